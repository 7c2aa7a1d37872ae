package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"legacyauth/contracts"
	"legacyauth/core"
)

// verifyCommand replays golden cases against a running server:
//
//	gateway contract verify --target http://host:port [--test-phones '+8613800000xxx=246810' | --sms-sink :9099] [--old-server] [--dialect name] [dir]
//
// Cases that need codes read them from the target's test numbers
// (--test-phones, the target's GATEWAY_TEST_PHONES: each case then gets
// fresh numbers from that range, unregistered on the target, so runs can
// repeat) or from an SMS sink (--sms-sink: start the target with
// GATEWAY_SMS_WEBHOOK=http://<this host>:9099/); without either they are
// skipped. --old-server skips what an old server cannot answer. Every skip
// and failure says why; it exits non-zero on any failure.
func verifyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("contract verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "base URL of the server to verify, e.g. http://127.0.0.1:8080")
	sink := fs.String("sms-sink", "", "address to receive the target's SMS webhook on, e.g. 127.0.0.1:9099")
	testPhones := fs.String("test-phones", "", "the target's GATEWAY_TEST_PHONES, e.g. '+8613800000xxx=246810': cases get fresh numbers of the first +86 range and its fixed code")
	only := fs.String("dialect", "", "verify only these dialects' cases (comma-separated), e.g. apiv4 for one old server")
	oldServer := fs.Bool("old-server", false, "the target is an old server: skip the cases that need /v1 set-up and those where the gateway departs from it")
	lengths := []string{"v1=6"} // core's default
	for _, k := range dialectKinds {
		lengths = append(lengths, k.name+"="+strconv.Itoa(k.codeLength))
	}
	codeLengths := fs.String("code-lengths", strings.Join(lengths, ","), "the target's code length per dialect (its GATEWAY_<DIALECT>_CODE_LENGTH) and /v1's, for --test-phones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return fmt.Errorf("contract verify: --target is required")
	}
	if *testPhones != "" && *sink != "" {
		return fmt.Errorf("contract verify: --test-phones and --sms-sink exclude each other: pick one source of codes")
	}
	dir := "testdata"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	cases, err := contracts.Load(dir)
	if err != nil {
		return err
	}
	if *only != "" {
		want := strings.Split(*only, ",")
		cases = slices.DeleteFunc(cases, func(c *contracts.Case) bool { return !slices.Contains(want, c.Dialect) })
		if len(cases) == 0 {
			return fmt.Errorf("contract verify: no cases of --dialect %s under %s", *only, dir)
		}
	}
	t := contracts.Target{BaseURL: strings.TrimRight(*target, "/"), OldServer: *oldServer}
	if *testPhones != "" {
		if t.TestCode, t.Phones, err = testNumbers(t.BaseURL, *testPhones, *oldServer); err != nil {
			return fmt.Errorf("contract verify: %w", err)
		}
		if t.CodeLength, err = parseCodeLengths(*codeLengths); err != nil {
			return fmt.Errorf("contract verify: --code-lengths: %w", err)
		}
	}
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

// parseCodeLengths reads name=digits,name=digits.
func parseCodeLengths(s string) (map[string]int, error) {
	m := map[string]int{}
	for _, e := range strings.Split(s, ",") {
		name, n, ok := strings.Cut(strings.TrimSpace(e), "=")
		d, err := strconv.Atoi(n)
		if !ok || err != nil || d <= 0 {
			return nil, fmt.Errorf("want dialect=digits, got %q", e)
		}
		m[name] = d
	}
	return m, nil
}

// testNumbers reads --test-phones and returns the range's code and a
// source of fresh numbers: from a random point in the first +86 range
// with wildcards, each number in turn that the target says is not
// registered (POST /v1/phones/lookup; the gateway counts no look-up of a
// test number). An old server has no /v1: its numbers are not checked.
func testNumbers(base, spec string, oldServer bool) (code string, next func(context.Context) (string, error), err error) {
	phones, err := core.ParseTestPhones(spec)
	if err != nil {
		return "", nil, err
	}
	var tp core.TestPhone
	for _, p := range phones {
		if strings.HasPrefix(p.Pattern, "+861") && len(p.Pattern) == 14 && p.Count() > 1 {
			tp = p
			break
		}
	}
	if tp.Pattern == "" {
		return "", nil, fmt.Errorf("--test-phones %q: want a +86 range with x wildcards, e.g. +8613800000xxx=246810, as in the target's GATEWAY_TEST_PHONES", spec)
	}
	local := strings.TrimPrefix(tp.Pattern, "+86")
	fixed := strings.TrimRight(local, "x")
	size := tp.Count()
	start, tried := rand.IntN(size), 0
	client := &http.Client{Timeout: 10 * time.Second}
	var mu sync.Mutex
	next = func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		for ; tried < size; tried++ {
			phone := fmt.Sprintf("%s%0*d", fixed, len(local)-len(fixed), (start+tried)%size)
			if oldServer {
				tried++
				return phone, nil
			}
			registered, err := isRegistered(ctx, client, base, phone)
			if err != nil {
				return "", err
			}
			if !registered {
				tried++
				return phone, nil
			}
		}
		return "", fmt.Errorf("every number of %s is registered on the target: widen GATEWAY_TEST_PHONES and --test-phones, or use an empty store", tp.Pattern)
	}
	return tp.Code, next, nil
}

// isRegistered asks the target whether phone is registered.
func isRegistered(ctx context.Context, client *http.Client, base, phone string) (bool, error) {
	b, _ := json.Marshal(map[string]string{"phone": phone})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/phones/lookup", bytes.NewReader(b))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var r struct{ Registered bool }
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return false, fmt.Errorf("/v1/phones/lookup answered 429 (limit %s, Retry-After %ss): wait and run again, since a run makes about 350 requests (the default limit `request` is 1200 a minute per address); "+
			"a limit lookup_ip means the target counts look-ups of test numbers: check that its GATEWAY_TEST_PHONES covers --test-phones", resp.Header.Get("RateLimit-Policy"), resp.Header.Get("Retry-After"))
	case resp.StatusCode == http.StatusNotFound:
		return false, fmt.Errorf("/v1/phones/lookup answered 404: the target has no /v1 (an old server? pass --old-server)")
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("/v1/phones/lookup answered %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&r); err != nil {
		return false, fmt.Errorf("/v1/phones/lookup: %w", err)
	}
	return r.Registered, nil
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
