package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthcheck asks a running gateway's /healthz (the container image has
// no curl): `gateway healthcheck [URL]`, exit status 0 when it answers 200.
func healthcheck(ctx context.Context, args []string) error {
	url := "http://127.0.0.1:9090/healthz" // the admin listener's default
	if len(args) > 0 {
		url = args[0]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
