package main

// Performance benchmarks (docs/performance.md). They run only under
// -bench (`make bench`), each measuring once (on the b.N == 1 call) and
// reporting custom metrics; the tables go to stdout.
//
//   BenchmarkGateway  cheap paths: the gateway against a bare net/http
//                     server answering the same bytes, same load generator
//   BenchmarkLogin    logins/s through two dialects next to the argon2id
//                     bound measured in the same run
//   BenchmarkOverload a login storm (200 connections) against a light
//                     cheap-path client: what the cheap paths keep, how
//                     fast every login is answered (served or shed)
//   BenchmarkMemdb1M  heap per user and start-up time with 1M users
//
// PERF_DURATION (default 3s) and PERF_CONNS (default 32) change the load.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/internal/loadgen"
)

const perfPassword = "abc12345" // every generated user's password; valid in every dialect

func perfDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PERF_DURATION")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Second
}

func perfConns() int {
	if n, err := strconv.Atoi(os.Getenv("PERF_CONNS")); err == nil && n > 0 {
		return n
	}
	return 32
}

// perfPHC is one real argon2id hash of perfPassword with the production
// parameters. Every generated user carries it (in its own copy, as a
// loaded store would), so 1M users cost one hash, not 1M.
var perfPHC = sync.OnceValue(func() string {
	h, err := core.HashPassword(perfPassword, core.DefaultHashParams)
	if err != nil {
		panic(err)
	}
	return h
})

// perfPhone is user i's phone as the apps send it (+86 is prepended in the store).
func perfPhone(i int) string { return fmt.Sprintf("138%08d", i) }

// perfCPUModel names the machine for the tables.
func perfCPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func perfMachine() string {
	return fmt.Sprintf("%s, GOMAXPROCS=%d, %s", perfCPUModel(), runtime.GOMAXPROCS(0), runtime.Version())
}

// --- a memdb data directory with n users, written directly ----------------

// writePerfSnapshot writes a memdb data directory holding n users and no
// session: a snapshot in memdb's documented format (core/memdb/doc.go,
// snapshot.go) and the empty log segment it names, as after a compaction.
// Writing the file costs about a second per million users, where going
// through CreateUser would cost minutes. Should the format change,
// memdb.Open refuses the file and the benchmark fails saying so.
//
// Users have production-sized fields: a 32-hex id (random order), a +86
// phone (138 and 8 digits, i in order), the fixed 97-byte PHC hash, a
// Chinese name and nickname, a gender, an avatar path and a UUID device.
func writePerfSnapshot(dir string, n int) error {
	const (
		tagPutUser    = 1
		tagHeader     = 0x80
		tagTrailer    = 0x81
		tagUserOrder  = 0x82
		magic         = "legacyauth/memdb snapshot"
		formatVersion = 1
		firstSegment  = 1 // the first log segment the snapshot does not cover
	)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	f, err := os.Create(filepath.Join(dir, "snapshot"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var p, frame []byte
	put := func() {
		frame = binary.LittleEndian.AppendUint32(frame[:0], uint32(len(p)))
		crc := crc32.Update(crc32.Update(0, castagnoli, frame[:4]), castagnoli, p)
		frame = binary.LittleEndian.AppendUint32(frame, crc)
		w.Write(frame)
		w.Write(p)
		p = p[:0]
	}
	str := func(s string) {
		p = binary.AppendUvarint(p, uint64(len(s)))
		p = append(p, s...)
	}
	p = append(p, tagHeader)
	str(magic)
	p = binary.AppendUvarint(p, formatVersion)
	p = binary.AppendUvarint(p, firstSegment)
	put()

	hash := perfPHC()
	created := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC).UnixNano()
	ids := make([]string, n)
	var ib [8]byte
	for i := range n { // phone order: i in order
		binary.LittleEndian.PutUint64(ib[:], uint64(i))
		h := sha256.Sum256(ib[:])
		ids[i] = hex.EncodeToString(h[:16])
		dev := hex.EncodeToString(h[16:32])
		p = append(p, tagPutUser)
		for _, s := range [...]string{
			ids[i], "+86" + perfPhone(i), hash, "张伟", "小张", "1",
			"/v1/avatars/" + dev + ".jpg",
			dev[0:8] + "-" + dev[8:12] + "-" + dev[12:16] + "-" + dev[16:20] + "-" + dev[20:32],
		} {
			str(s)
		}
		p = binary.AppendVarint(p, created)
		p = binary.AppendVarint(p, 0) // updated - created
		put()
	}
	// The users' positions (in phone order) listed in id order.
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i)
	}
	slices.SortFunc(pos, func(a, b int32) int { return strings.Compare(ids[a], ids[b]) })
	for i, x := range pos {
		if i%16384 == 0 {
			if i > 0 {
				put()
			}
			p = append(p, tagUserOrder)
		}
		p = binary.AppendUvarint(p, uint64(x))
	}
	if n > 0 {
		put()
	}
	p = append(p, tagTrailer)
	p = binary.AppendUvarint(p, uint64(n))
	p = binary.AppendUvarint(p, 0) // sessions
	put()
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fmt.Sprintf("wal-%020d.log", firstSegment)), nil, 0o600)
}

// --- the gateway and the bare server, both on loopback ----------------------

// perfEnv is the production wiring (build) on a memdb store preloaded with
// users, served by newHTTPServer on loopback, next to a bare net/http
// server with the same server settings whose handler only writes a fixed
// reply.
type perfEnv struct {
	app      *app
	gwAddr   string
	bareAddr string
	logFile  string
	bare     atomic.Pointer[perfReply]
	limits   []string // the limits raised, as flags
}

type perfReply struct {
	status      int
	contentType string
	body        []byte
}

// perfLimits raise the two limits every request of one loopback address
// would exhaust (1200 requests a minute, 100 look-ups an hour); every
// other limit keeps its default, and all are enforced.
var perfLimits = []string{"--limit-request=1000000000-M", "--limit-lookup-ip=1000000000-H"}

// startPerfEnv starts the gateway with perfLimits and the extra flags.
func startPerfEnv(b *testing.B, users int, flags ...string) *perfEnv {
	b.Helper()
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := writePerfSnapshot(data, users); err != nil {
		b.Fatal(err)
	}
	flags = append(slices.Clip(perfLimits), flags...)
	args := append([]string{"--data-dir", data, "--listen", "127.0.0.1:0"}, flags...)
	cfg, err := parseConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	if cfg.LimitsOff {
		b.Fatal("limits must be on")
	}
	// The production logger (JSON, info) writing one line per request to a
	// file, as stderr redirected to a file would.
	logPath := filepath.Join(dir, "gateway.log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logf.Close() })
	log, lw := newLogger(cfg, logf)
	b.Cleanup(func() { lw.Close() }) // before logf.Close (cleanups run last first)
	// overrides{}: the production hash (DefaultHashParams), clock and sender.
	a, err := build(cfg, log, overrides{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() }) // after the servers' Close (cleanups run last first)
	if got := a.Service.Config().Hash; got != core.DefaultHashParams {
		b.Fatalf("hash parameters %+v, want the production ones", got)
	}
	e := &perfEnv{app: a, logFile: logPath, limits: flags}
	e.gwAddr = perfServe(b, "gateway", newHTTPServer(cfg, a.Handler, log))
	e.bareAddr = perfServe(b, "bare", newHTTPServer(cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := e.bare.Load()
		w.Header().Set("Content-Type", c.contentType)
		w.WriteHeader(c.status)
		w.Write(c.body)
	}), log))
	return e
}

// perfServe serves srv on a loopback port. Connection goroutines
// inherit the pprof label server=<name>, so a CPU profile can be cut by
// server (go tool pprof -tagfocus server=gateway).
func perfServe(b *testing.B, name string, srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go pprof.Do(context.Background(), pprof.Labels("server", name), func(context.Context) { srv.Serve(ln) })
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// perfRoundTrip sends one raw request and returns the reply.
func perfRoundTrip(addr string, raw []byte) (*http.Response, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if _, err := c.Write(raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// token logs user i in through /v1 and returns the session token.
func (e *perfEnv) token(b *testing.B, i int) string {
	body, _ := json.Marshal(map[string]string{"phone": perfPhone(i), "password": perfPassword, "device_id": "perf"})
	resp, raw, err := perfRoundTrip(e.gwAddr, loadgen.Request("POST", e.gwAddr, "/v1/sessions", http.Header{"Content-Type": {"application/json"}}, body))
	if err != nil || resp.StatusCode != http.StatusCreated {
		b.Fatalf("log in through /v1: %v %v %s", err, resp, raw)
	}
	var r struct{ Token string }
	if err := json.Unmarshal(raw, &r); err != nil || r.Token == "" {
		b.Fatalf("log in through /v1: %s", raw)
	}
	return r.Token
}

// The machine's capacity varies (a small VM whose cores other jobs share),
// so what is compared is measured in alternating rounds:
// bare, gateway, gateway, bare, ... and hash bound, login, login, ...
// Each side's rounds are then pooled.
func perfRounds(per time.Duration) (n int, window time.Duration) {
	n = max(1, int(math.Round(float64(perfDuration())/float64(per))))
	return n, perfDuration() / time.Duration(n)
}

// perfSample pools the rounds of one side.
type perfSample struct {
	res            *loadgen.Result
	mallocs, bytes uint64
	cpu            time.Duration
}

func (s *perfSample) add(r *loadgen.Result, mallocs, bytes uint64, cpu time.Duration) {
	if s.res == nil {
		s.res = r
	} else {
		s.res = loadgen.Merge(s.res, r)
	}
	s.mallocs += mallocs
	s.bytes += bytes
	s.cpu += cpu
}

// Per completed request, warm-up included: the generator allocates
// nothing per request, so these are the server's.
func (s *perfSample) allocs() float64  { return float64(s.mallocs) / float64(s.res.Total) }
func (s *perfSample) alloced() float64 { return float64(s.bytes) / float64(s.res.Total) }

// cpuPerReq is the process's CPU time per completed request: the server's
// and the generator's (the same generator work on either side).
func (s *perfSample) cpuPerReq() time.Duration { return s.cpu / time.Duration(s.res.Total) }

// perfDrive runs the load generator (its goroutines labelled server=loadgen)
// against addr and returns the result and the process's allocations and
// CPU time meanwhile.
func perfDrive(b *testing.B, addr string, conns int, warmup, window time.Duration, reqs [][]byte, check func(int, []byte) error) (*loadgen.Result, uint64, uint64, time.Duration) {
	b.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := loadgen.ProcessCPU()
	var res *loadgen.Result
	var err error
	pprof.Do(context.Background(), pprof.Labels("server", "loadgen"), func(ctx context.Context) {
		res, err = loadgen.Run(ctx, loadgen.Config{
			Addr: addr, Conns: conns, Warmup: warmup, Duration: window, Requests: reqs, Check: check,
		})
	})
	cpu = loadgen.ProcessCPU() - cpu
	runtime.ReadMemStats(&after)
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors > 0 {
		b.Fatalf("%s: %d failed requests; the first: %v", addr, res.Errors, res.FirstError)
	}
	if res.Total == 0 {
		b.Fatalf("%s: no request completed", addr)
	}
	return res, after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc, cpu
}

// perfMetric is one b.ReportMetric.
type perfMetric struct {
	v    float64
	unit string
}

var perfMeasured sync.Map // benchmark name -> []perfMetric

// perfOnce measures on the b.N == 1 call, which every benchmark gets first
// (and, as a measurement outlasts -benchtime's default 1s, usually the only
// one), and reports the same metrics on any later call with a larger b.N:
// a run measures once; -count=n measures n times.
func perfOnce(b *testing.B, measure func() []perfMetric) {
	if b.N == 1 {
		perfMeasured.Store(b.Name(), measure())
	}
	ms, ok := perfMeasured.Load(b.Name())
	if !ok {
		b.Fatal("no measurement")
	}
	for _, m := range ms.([]perfMetric) {
		b.ReportMetric(m.v, m.unit)
	}
}

func perfFileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func perfUS(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func perfVerdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// perfRow is one line of the gateway table.
type perfRow struct {
	name               string
	bare, gw           perfSample
	logBytes           float64
	replyBytes, status int
	// pairs are the ratios of adjacent rounds (bare, gw), (gw, bare), ...:
	// their spread shows how much the machine moved during the run.
	pairs []float64
}

// pairSpread formats the adjacent rounds' ratios: median, min-max.
func (r *perfRow) pairSpread() string {
	if len(r.pairs) == 0 {
		return "-"
	}
	p := slices.Sorted(slices.Values(r.pairs))
	return fmt.Sprintf("%.2f (%.2f-%.2f)", p[len(p)/2], p[0], p[len(p)-1])
}

func (r *perfRow) ratio() float64 { return r.gw.res.Throughput() / r.bare.res.Throughput() }
func (r *perfRow) p99ratio() float64 {
	return float64(r.gw.res.Quantile(0.99)) / float64(r.bare.res.Quantile(0.99))
}

// perfCase is one cheap path: a raw request per connection.
type perfCase struct {
	name string
	reqs [][]byte
}

// perfCheapPaths are the requests of BenchmarkGateway and BenchmarkHandler.
// Each connection asks about its own registered phone where the path
// names one; the replies are the same bytes for every phone.
func perfCheapPaths(host, token string, conns int) []perfCase {
	perConn := func(f func(i int) []byte) [][]byte {
		out := make([][]byte, conns)
		for i := range out {
			out[i] = f(1000 + i*997)
		}
		return out
	}
	ua := http.Header{"User-Agent": {"okhttp/3.12.1"}}
	return []perfCase{
		{"apiv4_isregister_registered", perConn(func(i int) []byte {
			return loadgen.Request("GET", host, "/api/v4.0/isregister/"+perfPhone(i)+"?expect=0", ua, nil)
		})},
		{"resultcode_send_0001_registered", perConn(func(i int) []byte {
			return loadgen.Request("GET", host, "/register?userId="+perfPhone(i), ua, nil)
		})},
		{"v1_session_introspect", [][]byte{loadgen.Request("GET", host, "/v1/session",
			http.Header{"Authorization": {"Bearer " + token}, "User-Agent": {"svc/1"}}, nil)}},
		{"unknown_path_404", [][]byte{loadgen.Request("GET", host, "/no/such/path", ua, nil)}},
	}
}

// BenchmarkGateway measures the cheap paths, each against the bare server
// and through the gateway with the same requests, connections and
// duration, in alternating rounds.
func BenchmarkGateway(b *testing.B) {
	const users = 100_000
	e := startPerfEnv(b, users)
	token := e.token(b, 7)
	conns := perfConns()
	n, window := perfRounds(375 * time.Millisecond)
	const warmup = 150 * time.Millisecond
	cases := perfCheapPaths(e.gwAddr, token, conns)
	var rows []*perfRow
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			perfOnce(b, func() []perfMetric {
				resp, want, err := perfRoundTrip(e.gwAddr, c.reqs[0])
				if err != nil {
					b.Fatal(err)
				}
				check := func(status int, body []byte) error {
					if status != resp.StatusCode || !bytes.Equal(body, want) {
						return fmt.Errorf("got %d %q, want %d %q", status, body, resp.StatusCode, want)
					}
					return nil
				}
				e.bare.Store(&perfReply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: want})
				row := &perfRow{name: c.name, replyBytes: len(want), status: resp.StatusCode}
				var logged int64
				var pair [2]float64 // this pair's bare and gateway req/s
				for i := range 2 * n {
					if i%4 == 0 || i%4 == 3 { // bare, gw, gw, bare, ...
						res, mallocs, bytes, cpu := perfDrive(b, e.bareAddr, conns, warmup, window, c.reqs, check)
						row.bare.add(res, mallocs, bytes, cpu)
						pair[0] = res.Throughput()
					} else {
						before := perfFileSize(e.logFile)
						res, mallocs, bytes, cpu := perfDrive(b, e.gwAddr, conns, warmup, window, c.reqs, check)
						row.gw.add(res, mallocs, bytes, cpu)
						logged += perfFileSize(e.logFile) - before
						pair[1] = res.Throughput()
					}
					if i%2 == 1 {
						row.pairs = append(row.pairs, pair[1]/pair[0])
					}
				}
				row.logBytes = float64(logged) / float64(row.gw.res.Total)
				rows = append(rows, row)
				gw, bare := row.gw.res, row.bare.res
				return []perfMetric{
					{0, "ns/op"},
					{gw.Throughput(), "req/s"},
					{bare.Throughput(), "bare-req/s"},
					{row.ratio(), "ratio"},
					{perfUS(gw.Quantile(0.5)), "p50-us"},
					{perfUS(gw.Quantile(0.99)), "p99-us"},
					{perfUS(bare.Quantile(0.99)), "bare-p99-us"},
					{row.p99ratio(), "p99-ratio"},
					{row.gw.allocs(), "allocs/op"}, // per request, server side
					{row.gw.alloced(), "B/op"},
					{row.bare.allocs(), "bare-allocs/op"},
					{perfUS(row.gw.cpuPerReq()), "cpu-us/req"},
					{perfUS(row.bare.cpuPerReq()), "bare-cpu-us/req"},
				}
			})
		})
	}
	rejected := int64(0)
	for _, st := range e.app.Limits.Stats() {
		rejected += st.Rejected.Load()
	}
	if rejected > 0 {
		b.Fatalf("the raised limits still rejected %d requests", rejected)
	}
	if len(rows) == 0 {
		return
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\nGateway vs bare net/http on loopback: %d connections, closed loop, keep-alive, load generator in-process;\n", conns)
	fmt.Fprintf(&out, "each side %v per path = %d rounds of %v (+%v warm-up each), sides alternating\n", perfDuration(), n, window, warmup)
	fmt.Fprintf(&out, "machine: %s\n", perfMachine())
	fmt.Fprintf(&out, "gateway: build() on memdb with %d users, argon2id %+v, rate limits ON (raised: %s; the rest default; 0 rejected), JSON info log to a file\n",
		users, core.DefaultHashParams, strings.Join(e.limits, " "))
	fmt.Fprintf(&out, "bare: the same http.Server settings; the handler writes the gateway's reply (same status, Content-Type, body bytes)\n")
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tstatus\tbody B\tbare req/s\tgw req/s\tratio\tbare p50\tgw p50\tbare p99\tgw p99\tp99 ratio\tbare CPU/req\tgw CPU/req\tbare allocs/req\tgw allocs/req\tgw B/req\tlog B/req\ttarget\t")
	for _, r := range rows {
		gw, bare := r.gw.res, r.bare.res
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.0fus\t%.0fus\t%.0fus\t%.0fus\t%.2f\t%.1fus\t%.1fus\t%.1f\t%.1f\t%.0f\t%.0f\t%s\t\n",
			r.name, r.status, r.replyBytes, bare.Throughput(), gw.Throughput(), r.ratio(),
			perfUS(bare.Quantile(0.5)), perfUS(gw.Quantile(0.5)), perfUS(bare.Quantile(0.99)), perfUS(gw.Quantile(0.99)), r.p99ratio(),
			perfUS(r.bare.cpuPerReq()), perfUS(r.gw.cpuPerReq()),
			r.bare.allocs(), r.gw.allocs(), r.gw.alloced(), r.logBytes, perfVerdict(r.ratio() >= 0.75 && r.p99ratio() <= 2))
	}
	tw.Flush()
	fmt.Fprintf(&out, "target: gw req/s >= 0.75 x bare and gw p99 <= 2 x bare p99\n")
	fmt.Fprintf(&out, "CPU/req: the process's CPU time (server + load generator) per request served, warm-up included; allocs and B: the process's, per request (the generator allocates none)\n")
	for _, r := range rows {
		fmt.Fprintf(&out, "requests served: %s: bare %d, gw %d; ratio of adjacent rounds: median %s\n", r.name, r.bare.res.Total, r.gw.res.Total, r.pairSpread())
	}
	fmt.Print(out.String())
}

// perfHashBound runs VerifyPassword with the production parameters in g
// goroutines and counts the verifications completed in window (after
// warmup).
func perfHashBound(b *testing.B, g int, warmup, window time.Duration) int64 {
	phc := perfPHC()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(warmup)
	end := start.Add(window)
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				ok, stale, err := core.VerifyPassword(perfPassword, phc, core.DefaultHashParams)
				if err != nil || !ok || stale {
					b.Errorf("VerifyPassword: ok=%v stale=%v err=%v", ok, stale, err)
					return
				}
				if t := time.Now(); !t.Before(start) && !t.After(end) {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

// BenchmarkLogin measures successful logins per second through the gateway
// (each one argon2id verification with the production parameters and one
// fsynced session write) next to the bound argon2id itself sets on this
// machine, in alternating rounds of the same run.
func BenchmarkLogin(b *testing.B) { perfOnce(b, func() []perfMetric { return measurePerfLogin(b) }) }

func measurePerfLogin(b *testing.B) []perfMetric {
	// Throughput, not shedding: no login waits its --hash-wait out here.
	e := startPerfEnv(b, 10_000, "--hash-wait=1m")
	// More connections than hash slots (core.Config.HashConcurrency,
	// GOMAXPROCS-1 by default), so the slots never idle; each connection
	// logs in its own user.
	conns := 4 * runtime.GOMAXPROCS(0)
	slots := e.app.Service.Config().HashConcurrency
	host := e.gwAddr
	type login struct {
		name   string
		reqs   [][]byte
		marker string
		got    perfSample
		rounds []string // each round's logins/s over the round's hash bound
	}
	var cara, apiv4 [][]byte
	for i := range conns {
		body, _ := json.Marshal(map[string]string{"mobile": perfPhone(100 + i), "password": perfPassword})
		cara = append(cara, loadgen.Request("POST", host, "/caraccessories/app/login", http.Header{"Content-Type": {"application/json;charset=UTF-8"}}, body))
		form := url.Values{"phone": {perfPhone(200 + i)}, "password": {perfPassword}, "device_identifier": {"perf-device"}}
		apiv4 = append(apiv4, loadgen.Request("POST", host, "/api/v4.0/login", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode())))
	}
	logins := []*login{{name: "caraccessories_login", reqs: cara, marker: `{"status":1,"msg":"Ok"}`}, {name: "apiv4_login", reqs: apiv4, marker: `"code": 200`}}
	n, window := perfRounds(time.Second)
	const warmup = 300 * time.Millisecond
	var hashes, hashesAll int64
	for range n {
		h := perfHashBound(b, slots, warmup, window)
		hashes += h
		hashesAll += perfHashBound(b, runtime.GOMAXPROCS(0), warmup, window)
		for _, l := range logins {
			res, mallocs, alloced, cpu := perfDrive(b, e.gwAddr, conns, warmup, window, l.reqs, func(status int, body []byte) error {
				if status != 200 || !bytes.Contains(body, []byte(l.marker)) {
					return fmt.Errorf("login failed: %d %s", status, body)
				}
				return nil
			})
			l.got.add(res, mallocs, alloced, cpu)
			l.rounds = append(l.rounds, fmt.Sprintf("%.2f", float64(res.Requests)/float64(max(h, 1))))
		}
	}
	bound := float64(hashes) / (time.Duration(n) * window).Seconds()
	all := float64(hashesAll) / (time.Duration(n) * window).Seconds()
	var out strings.Builder
	fmt.Fprintf(&out, "\nLogins through the gateway vs the argon2id bound: %d connections; each %v = %d rounds of %v (+%v warm-up), alternating\n", conns, perfDuration(), n, window, warmup)
	fmt.Fprintf(&out, "machine: %s\n", perfMachine())
	fmt.Fprintf(&out, "hash bound: core.VerifyPassword with %+v in %d goroutine(s), one per hash slot: %.1f hashes/s; in %d (every core busy): %.1f hashes/s, so the slots cost %.0f%% of the logins every core could serve\n",
		core.DefaultHashParams, slots, bound, runtime.GOMAXPROCS(0), all, 100*(1-bound/all))
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tlogins/s\thash bound/s\tratio\tp50\tp99\tallocs/login\ttarget\t")
	metrics := []perfMetric{{bound, "hashes/s"}, {all, "all-cores-hashes/s"}, {float64(slots), "hash-slots"}, {0, "ns/op"}}
	for _, l := range logins {
		res := l.got.res
		ratio := res.Throughput() / bound
		metrics = append(metrics, perfMetric{res.Throughput(), l.name + "-logins/s"}, perfMetric{ratio, l.name + "-ratio"})
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%.0fms\t%.0fms\t%.0f\t%s\t\n", l.name, res.Throughput(), bound, ratio,
			float64(res.Quantile(0.5))/1e6, float64(res.Quantile(0.99))/1e6, l.got.allocs(), perfVerdict(ratio >= 0.9))
	}
	tw.Flush()
	fmt.Fprintf(&out, "target: logins/s >= 0.9 x hash bound\n")
	for _, l := range logins {
		fmt.Fprintf(&out, "ratio per round (logins over the same round's hash bound): %s: %s\n", l.name, strings.Join(l.rounds, " "))
	}
	fmt.Print(out.String())
	return metrics
}

func perfHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemdb1M writes a data directory of 1M users, then measures
// memdb.Open on it (start-up, with the page cache warm, as the snapshot was
// just written) and the live heap it adds, per user.
func BenchmarkMemdb1M(b *testing.B) { perfOnce(b, func() []perfMetric { return measurePerfMemdb(b) }) }

func measurePerfMemdb(b *testing.B) []perfMetric {
	const n = 1_000_000
	dir := b.TempDir()
	t0 := time.Now()
	if err := writePerfSnapshot(dir, n); err != nil {
		b.Fatal(err)
	}
	gen := time.Since(t0)
	snapSize := perfFileSize(filepath.Join(dir, "snapshot"))
	before := perfHeap()
	start := time.Now()
	st, err := memdb.Open(dir, memdb.Options{Logger: slog.New(slog.DiscardHandler)})
	took := time.Since(start)
	if err != nil {
		b.Fatalf("memdb.Open on the generated snapshot (has its format changed? see writePerfSnapshot): %v", err)
	}
	defer st.Close()
	after := perfHeap()
	// The store answers, and the stored hash verifies.
	u, err := st.UserByPhone(context.Background(), "+86"+perfPhone(n-1))
	if err != nil {
		b.Fatal(err)
	}
	if ok, _, err := core.VerifyPassword(perfPassword, u.PasswordHash, core.DefaultHashParams); !ok || err != nil {
		b.Fatalf("the stored hash does not verify: %v", err)
	}
	runtime.KeepAlive(st)
	perUser := float64(after-before) / n
	fmt.Printf("\nmemdb with %d users (snapshot %.0f MB, written in %v), machine: %s\n", n, float64(snapSize)/1e6, gen.Round(time.Millisecond), perfMachine())
	fmt.Printf("heap per user: %.0f B (live heap after GC: %.0f MiB)  target <= 1024 B: %s\n", perUser, float64(after-before)/(1<<20), perfVerdict(perUser <= 1024))
	fmt.Printf("start-up (memdb.Open): %v  target <= 3s: %s\n", took.Round(time.Millisecond), perfVerdict(took <= 3*time.Second))
	return []perfMetric{{0, "ns/op"}, {perUser, "heap-B/user"}, {took.Seconds(), "open-s"}}
}

// BenchmarkOverload measures a login storm against a light cheap-path
// client in one run: what the cheap paths keep of their unloaded
// throughput and p99, how long the storm's logins wait for an answer
// (served, or shed with the dialect's busy reply), and the logins served
// per second next to the hash bound of the configured hash slots.
func BenchmarkOverload(b *testing.B) {
	perfOnce(b, func() []perfMetric { return measurePerfOverload(b) })
}

// perfStormConns is the storm's connections, each logging its own user
// in to caraccessories over and over.
const perfStormConns = 200

func measurePerfOverload(b *testing.B) []perfMetric {
	// Every storm connection logs in from 127.0.0.1, and each login in
	// flight counts against the per-address login limit until it succeeds:
	// raised, as a storm comes from many addresses.
	e := startPerfEnv(b, 10_000, "--limit-login-ip=1000000000-H")
	token := e.token(b, 7)
	host := e.gwAddr
	// The light cheap-path client: 4 connections of apiv4 isregister and
	// 4 of /v1/session introspection, each its own load generator.
	const cheapConns = 4
	all := perfCheapPaths(host, token, cheapConns)
	cheap := []perfCase{all[0], all[2]}
	var storm [][]byte
	for i := range perfStormConns {
		body, _ := json.Marshal(map[string]string{"mobile": perfPhone(1000 + i), "password": perfPassword})
		storm = append(storm, loadgen.Request("POST", host, "/caraccessories/app/login", http.Header{"Content-Type": {"application/json;charset=UTF-8"}}, body))
	}
	served, shed := []byte(`{"status":1,"msg":"Ok"}`), []byte(`{"status":-2,`)
	slots := e.app.Service.Config().HashConcurrency
	n, window := perfRounds(time.Second)
	const warmup = 300 * time.Millisecond
	// The storm runs stormWarmup before the cheap client starts (every
	// connection is then waiting, served or shed at its steady rate) and
	// stops with it.
	const stormWarmup = 1500 * time.Millisecond
	alone := make([]perfSample, len(cheap))
	loaded := make([]perfSample, len(cheap))
	var stormRes *loadgen.Result
	var nServed, nShed, hashes int64
	var stormErr error // the first login not answered as served or shed
	for range n {
		hashes += perfHashBound(b, slots, warmup, window)
		for i, c := range cheap {
			res, mallocs, bytes, cpu := perfDrive(b, host, cheapConns, warmup, window, c.reqs, nil)
			alone[i].add(res, mallocs, bytes, cpu)
		}
		// The storm's window is the cheap clients' (after their warm-up).
		begin := time.Now()
		winStart, winEnd := begin.Add(stormWarmup+warmup), begin.Add(stormWarmup+warmup+window)
		var roundServed, roundShed atomic.Int64
		stormDone := make(chan *loadgen.Result, 1)
		go func() {
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				Addr: host, Conns: perfStormConns, Warmup: stormWarmup + warmup, Duration: window, Requests: storm,
				Check: func(status int, body []byte) error {
					t := time.Now()
					in := !t.Before(winStart) && !t.After(winEnd)
					switch {
					case status == 200 && bytes.Equal(body, served):
						if in {
							roundServed.Add(1)
						}
					case status == 200 && bytes.HasPrefix(body, shed):
						if in {
							roundShed.Add(1)
						}
					default:
						return fmt.Errorf("login: %d %s", status, body)
					}
					return nil
				},
			})
			if err != nil {
				b.Error(err)
			}
			stormDone <- res
		}()
		time.Sleep(time.Until(begin.Add(stormWarmup)))
		var wg sync.WaitGroup
		for i, c := range cheap {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := loadgen.Run(context.Background(), loadgen.Config{Addr: host, Conns: cheapConns, Warmup: warmup, Duration: window, Requests: c.reqs})
				if err != nil || res.Errors > 0 || res.Total == 0 {
					b.Errorf("%s during the storm: %v %+v", c.name, err, res)
					return
				}
				loaded[i].add(res, 0, 0, 0)
			}()
		}
		wg.Wait()
		res := <-stormDone
		if res == nil {
			b.FailNow()
		}
		if res.Errors > 0 && stormErr == nil {
			stormErr = res.FirstError
		}
		if stormRes == nil {
			stormRes = res
		} else {
			stormRes = loadgen.Merge(stormRes, res)
		}
		nServed += roundServed.Load()
		nShed += roundShed.Load()
	}
	if b.Failed() {
		b.FailNow()
	}
	secs := (time.Duration(n) * window).Seconds()
	bound := float64(hashes) / secs
	servedPerSec := float64(nServed) / secs
	maxWait := stormRes.Quantile(1)
	answered := stormRes.Errors == 0 && maxWait <= 2500*time.Millisecond
	var out strings.Builder
	fmt.Fprintf(&out, "\nOverload: a storm of %d connections logging in to caraccessories (each its own user) against a light cheap-path client (%d connections per path);\n", perfStormConns, cheapConns)
	fmt.Fprintf(&out, "each side %v = %d rounds of %v (+%v warm-up), the cheap paths alone then under the storm (started %v before), alternating\n", perfDuration(), n, window, warmup, stormWarmup)
	fmt.Fprintf(&out, "machine: %s\n", perfMachine())
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cheap path\talone req/s\tstorm req/s\tkept\talone p99\tstorm p99\ttarget\t")
	metrics := []perfMetric{{0, "ns/op"}}
	ok := true
	for i, c := range cheap {
		a, l := alone[i].res, loaded[i].res
		kept := l.Throughput() / a.Throughput()
		met := kept >= 0.5 && l.Quantile(0.99) <= 25*time.Millisecond
		ok = ok && met
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.1fms\t%.1fms\t%s\t\n", c.name, a.Throughput(), l.Throughput(), kept,
			float64(a.Quantile(0.99))/1e6, float64(l.Quantile(0.99))/1e6, perfVerdict(met))
		metrics = append(metrics, perfMetric{kept, c.name + "-kept"}, perfMetric{perfUS(l.Quantile(0.99)), c.name + "-storm-p99-us"})
	}
	tw.Flush()
	fmt.Fprintf(&out, "target: each cheap path keeps >= 0.5 x its unloaded req/s with p99 <= 25ms under the storm\n")
	fmt.Fprintf(&out, "storm logins answered in the window: %d served (%.1f/s), %d shed (%.1f/s); wait p50 %v, p99 %v, max %v; %d failed (not answered in 10s, or not a login reply)  target: every login answered within 2.5s: %s\n",
		nServed, servedPerSec, nShed, float64(nShed)/secs,
		stormRes.Quantile(0.5).Round(time.Millisecond), stormRes.Quantile(0.99).Round(time.Millisecond), maxWait.Round(time.Millisecond),
		stormRes.Errors, perfVerdict(answered))
	if stormErr != nil {
		fmt.Fprintf(&out, "the first failed login: %v\n", stormErr)
	}
	fmt.Fprintf(&out, "logins served %.1f/s next to the hash bound of the %d hash slot(s) (core.VerifyPassword in %d goroutine(s)): %.1f hashes/s, ratio %.2f\n",
		servedPerSec, slots, slots, bound, servedPerSec/bound)
	fmt.Print(out.String())
	if !ok {
		fmt.Println("cheap-path target MISSED")
	}
	return append(metrics,
		perfMetric{servedPerSec, "logins-served/s"},
		perfMetric{float64(nShed) / secs, "logins-shed/s"},
		perfMetric{bound, "slot-hashes/s"},
		perfMetric{float64(slots), "hash-slots"},
		perfMetric{float64(stormRes.Quantile(0.99)) / 1e6, "login-p99-ms"},
		perfMetric{float64(maxWait) / 1e6, "login-max-ms"},
		perfMetric{float64(stormRes.Errors), "logins-failed"},
	)
}
