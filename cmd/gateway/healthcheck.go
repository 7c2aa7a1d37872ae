package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck asks a running gateway's /healthz (the container image has
// no curl): `gateway healthcheck [URL]`, exit status 0 when it answers 200.
// Without a URL it asks the admin listener the configuration names
// (GATEWAY_ADMIN_LISTEN, or a configuration file's), on loopback when it
// listens on every interface.
func healthcheck(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) > 1 {
		return fmt.Errorf("usage: gateway healthcheck [URL]")
	}
	var url string
	if len(args) == 1 {
		url = args[0]
	} else {
		cfg, err := parseConfig(nil, getenv, io.Discard)
		if err != nil {
			return err
		}
		base, err := adminBaseURL(cfg)
		if err != nil {
			return fmt.Errorf("%w; or give the URL of /healthz", err)
		}
		url = base + "/healthz"
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
