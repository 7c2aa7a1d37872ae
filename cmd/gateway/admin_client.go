package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// adminBaseURL is the admin listener's URL as the configuration names it
// (GATEWAY_ADMIN_LISTEN, or a configuration file's), on loopback when it
// listens on every interface: what the CLI's commands call by default.
func adminBaseURL(cfg *Config) (string, error) {
	if cfg.AdminListen == "" {
		return "", fmt.Errorf("the admin listener is off (GATEWAY_ADMIN_LISTEN): give its URL")
	}
	host, port, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		return "", fmt.Errorf("GATEWAY_ADMIN_LISTEN=%q: %w", cfg.AdminListen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// adminCall sends one admin-API request with the bearer token and returns
// the reply's status and body (at most 16 MiB). Its errors do not quote
// the URL, whose path may hold a phone.
func adminCall(ctx context.Context, base, token, method, path string, body []byte) (int, []byte, error) {
	if token == "" {
		return 0, nil, errors.New("the admin API needs the admin token: set GATEWAY_ADMIN_TOKEN or GATEWAY_ADMIN_TOKEN_FILE")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("admin API URL %q: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, fmt.Errorf("the admin API at %s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, raw, err
}
