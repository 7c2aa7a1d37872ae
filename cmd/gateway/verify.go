package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"legacyauth/contracts"
)

// verifyCommand replays golden cases against a running server:
//
//	gateway contract verify --target http://host:port [--sms-sink :9099] [dir]
//
// With --sms-sink it listens for the codes the target sends (start the
// target with GATEWAY_SMS_WEBHOOK=http://<this host>:9099/), so cases that
// need codes run too; without it they are skipped. It exits non-zero on
// any mismatch.
func verifyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("contract verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "base URL of the server to verify, e.g. http://127.0.0.1:8080")
	sink := fs.String("sms-sink", "", "address to receive the target's SMS webhook on, e.g. 127.0.0.1:9099")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return fmt.Errorf("contract verify: --target is required")
	}
	dir := "testdata"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	cases, err := contracts.Load(dir)
	if err != nil {
		return err
	}
	t := contracts.Target{BaseURL: strings.TrimRight(*target, "/")}
	if *sink != "" {
		codes, closeSink, err := startSMSSink(*sink)
		if err != nil {
			return err
		}
		defer closeSink()
		t.LastCode = codes
	}
	var failed, skipped int
	for _, c := range cases {
		res := contracts.Run(ctx, t, c)
		switch {
		case res.Skipped != "":
			skipped++
			fmt.Fprintf(stdout, "SKIP %s: %s\n", c.Name, res.Skipped)
		case res.Failed():
			failed++
			fmt.Fprintf(stdout, "FAIL %s\n%s\n", c.Name, strings.Join(res.Diffs, "\n"))
		default:
			fmt.Fprintf(stdout, "ok   %s\n", c.Name)
		}
	}
	fmt.Fprintf(stdout, "%d cases: %d passed, %d failed, %d skipped\n", len(cases), len(cases)-failed-skipped, failed, skipped)
	if failed > 0 {
		return fmt.Errorf("%d of %d cases differ", failed, len(cases))
	}
	return nil
}

// startSMSSink serves the SMS webhook protocol and remembers the last code.
func startSMSSink(addr string) (last func() string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var code string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Code string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&m); err != nil {
			http.Error(w, "bad sms", http.StatusBadRequest)
			return
		}
		mu.Lock()
		code = m.Code
		mu.Unlock()
	})}
	go srv.Serve(ln)
	return func() string { mu.Lock(); defer mu.Unlock(); return code }, func() { srv.Close() }, nil
}
