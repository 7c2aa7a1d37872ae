package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
)

// The request line written directly is the one slog's JSONHandler writes
// for the same record, byte for byte: hostile request ids, paths and
// phones, with and without a backend, at times with and without
// fractions and zones.
func TestRequestLineMatchesJSONHandler(t *testing.T) {
	strs := []string{"", "a", `q"uo\te`, "<&>", "\x00\x1f\b\f\n\r\t", "\u2028\u2029", "\xff\xc3", "张伟", "+8613812345678",
		"/api/v4.0/isregister/138****5678", "😀", "/api/v4.0/sendsms/13812345678", "/x/张13812345678伟/\xff1234567\xe4", "1234567",
		"123456", "12345678901234567890", "+86\xe4\xbd13812345678", "\xe4\xbd1234567\xe4", "/a/8613812345678/b/+8613912345678"}
	rng := rand.New(rand.NewPCG(3, 4))
	times := []time.Time{time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC), time.Date(2026, 11, 21, 16, 0, 0, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("CST", 8*3600)), time.Now()}
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	for n := range 3000 {
		pick := func() string { return strs[rng.IntN(len(strs))] }
		info := &Info{RequestID: pick(), Dialect: pick(), Op: pick(), Outcome: pick(), Phone: pick()}
		if n%3 == 0 {
			info.Backend = pick()
		}
		l := requestLine{info: info, method: pick(), path: pick(), status: rng.IntN(600), latency: time.Duration(rng.Int64N(int64(time.Minute)))}
		tm := times[n%len(times)]
		l.at = tm
		buf.Reset()
		rec := slog.NewRecord(tm, slog.LevelInfo, "request", 0)
		rec.AddAttrs(l.attrs()...)
		if err := h.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if got := appendRequestLine(nil, l); !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("line for %+v, %+v:\n got %s\nwant %s", l, *info, got, buf.Bytes())
		}
	}
}

// Both ways of writing request lines honour the logger's level.
func TestRequestLogHonoursLevel(t *testing.T) {
	for _, direct := range []bool{false, true} {
		var buf bytes.Buffer
		opts := Options{Log: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		if direct {
			opts.RequestLog = &buf
		}
		g := New(opts)
		info := &Info{RequestID: "id"}
		g.logRequest(context.Background(), requestLine{info: info, method: "GET", path: "/", status: 404})
		if buf.Len() != 0 {
			t.Errorf("direct=%v: at level warn, a request line was written: %s", direct, buf.Bytes())
		}
		opts.Log = slog.New(slog.NewJSONHandler(&buf, nil))
		New(opts).logRequest(context.Background(), requestLine{info: info, method: "GET", path: "/", status: 404})
		if !bytes.Contains(buf.Bytes(), []byte(`"msg":"request","request_id":"id","method":"GET","path":"/"`)) {
			t.Errorf("direct=%v: at level info, got %q", direct, buf.Bytes())
		}
	}
}
