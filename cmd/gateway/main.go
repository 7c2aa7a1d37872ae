// Command gateway serves three legacy sign-up/login contracts and the
// canonical /v1 API from one core. See README.md; `gateway help` lists
// its commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

// version is stamped by `make build`.
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// env is what a command reads: its arguments, the environment, and where
// to write.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// command is one subcommand. Every command answers -h and --help with its
// usage, and `gateway help NAME` prints the same.
type command struct {
	name    string // one or two words: "config check"
	args    string // what follows the name, for the usage line
	summary string
	run     func(ctx context.Context, args []string, e env) error
}

// commands lists every subcommand; serve is the default. It is filled in
// init: help's own entry reads it.
var commands []command

func init() {
	commands = []command{
		{"serve", "[flags]", "serve the dialects and /v1 (the default: `gateway [flags]` serves)", serveCommand},
		{"version", "", "print the version", func(_ context.Context, _ []string, e env) error {
			fmt.Fprintln(e.stdout, version)
			return nil
		}},
		{"config check", "FILE", "check a configuration file (unknown settings, bad values, how they combine) and print ok", func(_ context.Context, args []string, e env) error {
			if err := configCheck(args); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "ok")
			return nil
		}},
		{"import", "[--plaintext hash|keep] [--batch N] [--progress D] [--max-errors N] FILE [gateway flags]", "import users from JSON Lines into the configured store", func(ctx context.Context, args []string, e env) error {
			return importCommand(ctx, args, e.getenv, e.stdout, e.stderr)
		}},
		{"healthcheck", "[URL]", "exit 0 when a gateway's /healthz answers 200 (default: the configured admin listener's)", func(ctx context.Context, args []string, e env) error {
			return healthcheck(ctx, args, e.getenv)
		}},
		{"contract verify", "--target URL [--sms-sink ADDR] [DIR]", "replay the golden files (DIR, default testdata) against a running server", func(ctx context.Context, args []string, e env) error {
			return verifyCommand(ctx, args, e.stdout, e.stderr)
		}},
		{"sms test", "--phone PHONE [--provider NAME] [gateway flags]", "send one test code through the configured SMS providers and say which took it", smsTestCommand},
		{"migrate", "[--admin URL] status | pause [TRACK] | resume [TRACK] | set TRACK PERCENT", "read or steer the migration from the old servers (rollout steps, pauses) through a gateway's admin API", migrateCommand},
		{"user show", userArgs, userActions["show"].summary, userCommand("show")},
		{"user unlock", userArgs, userActions["unlock"].summary, userCommand("unlock")},
		{"user logout", userArgs, userActions["logout"].summary, userCommand("logout")},
		{"user delete", userArgs, userActions["delete"].summary, userCommand("delete")},
		{"user audit", userArgs, userActions["audit"].summary, userCommand("audit")},
		{"help", "[COMMAND]", "print this text, or a command's usage", helpCommand},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) > 0 {
		switch args[0] {
		case "--version", "-version":
			return commands[1].run(ctx, nil, e)
		case "-h", "-help", "--help":
			printUsage(stdout)
			fmt.Fprintln(stdout)
			return serveUsage(stdout)
		}
	}
	cmd, rest := findCommand(args)
	if cmd == nil {
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			printUsage(stderr)
			return fmt.Errorf("unknown command %q", args[0])
		}
		cmd, rest = &commands[0], args // flags alone: serve
	}
	if cmd.name != "serve" && cmd.name != "import" && cmd.name != "sms test" && wantsHelp(rest) {
		return commandUsage(stdout, cmd)
	}
	return cmd.run(ctx, rest, e)
}

// findCommand returns the command args name and the arguments after its
// name; nil when args name none.
func findCommand(args []string) (*command, []string) {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == commands[i].name {
			return &commands[i], args[len(words):]
		}
	}
	return nil, nil
}

// wantsHelp reports whether a command's arguments ask for its usage.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// printUsage prints the list of commands.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: gateway [COMMAND] [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n`gateway help COMMAND` or `gateway COMMAND -h` prints a command's usage.")
}

// commandUsage prints one command's usage.
func commandUsage(w io.Writer, c *command) error {
	switch c.name {
	case "serve":
		return serveUsage(w)
	case "import":
		return importCommand(context.Background(), []string{"-h"}, func(string) string { return "" }, w, w)
	case "sms test":
		return smsTestCommand(context.Background(), []string{"-h"}, env{getenv: func(string) string { return "" }, stdout: w, stderr: w})
	}
	fmt.Fprintf(w, "Usage: gateway %s %s\n\n%s.\n", c.name, c.args, c.summary)
	return nil
}

// serveUsage prints serve's usage: every setting.
func serveUsage(w io.Writer) error {
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, w)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func helpCommand(_ context.Context, args []string, e env) error {
	if len(args) == 0 {
		printUsage(e.stdout)
		return nil
	}
	c, _ := findCommand(args)
	if c == nil {
		printUsage(e.stderr)
		return fmt.Errorf("no command %q", strings.Join(args, " "))
	}
	return commandUsage(e.stdout, c)
}

func serveCommand(ctx context.Context, args []string, e env) error {
	cfg, err := parseConfig(args, e.getenv, e.stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log, lw := newLogger(cfg, e.stderr)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, log, lw)
}
