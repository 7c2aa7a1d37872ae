// Command gateway serves three legacy sign-up/login contracts and the
// canonical /v1 API from one core. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped by `make build`.
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "version" {
		fmt.Fprintln(stdout, version)
		return nil
	}
	if len(args) >= 1 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:])
	}
	if len(args) >= 2 && args[0] == "config" && args[1] == "check" {
		if err := configCheck(args[2:]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ok")
		return nil
	}
	if len(args) >= 1 && args[0] == "import" {
		return importCommand(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) >= 2 && args[0] == "contract" && args[1] == "verify" {
		return verifyCommand(ctx, args[2:], stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, lw := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log, lw)
}
