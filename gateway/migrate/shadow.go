package migrate

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"legacyauth/core"
	"legacyauth/gateway"
)

// shadowQueue replays shadowed requests through the core, off the request
// path: offer never blocks (a full queue drops the comparison and counts
// it), and a fixed number of workers replay and compare.
type shadowQueue struct {
	m     *Migrator
	jobs  chan *shadowJob
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	logs  rateWindow
	tmout time.Duration
}

// shadowJob is one request to replay, and the old server's answer.
type shadowJob struct {
	rt  *route
	op  string
	req *http.Request // a copy, with no context values
	// info is a copy of the request's record: the replay runs with it, so
	// the handler finds the parameters and path variables the gateway
	// read, and records the core's outcome in it.
	info       gateway.Info
	body       []byte
	phone      string // as the log line shows it (masked), or ""
	params     gateway.Params
	oldStatus  int
	oldBody    []byte
	oldOutcome string
	track      *liveTrack // nil: not counted in the shared state
	epoch      int64
}

func newShadowQueue(m *Migrator, size, workers int) *shadowQueue {
	q := &shadowQueue{m: m, jobs: make(chan *shadowJob, size), quit: make(chan struct{}),
		logs: rateWindow{max: m.opts.MismatchLogsPerMinute}, tmout: max(m.opts.Timeout, 10*time.Second)}
	m.met.queueLen = func() int { return len(q.jobs) }
	for range workers {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

func (q *shadowQueue) close() {
	q.once.Do(func() { close(q.quit) })
	q.wg.Wait()
}

// offer queues the comparison of a request the old server answered, when
// its operation may be shadowed. It returns at once.
func (q *shadowQueue) offer(rt *route, r *http.Request, req *request, oldStatus int, oldBody []byte, oldOutcome string) {
	name := rt.ds.name
	op, known := rt.ds.wire.ops[req.op]
	switch {
	case !known || op.Acts && !q.m.opts.ShadowSideEffects:
		// An operation not worked out (a request too malformed to tell
		// which of a route's operations it is) counts as acting too.
		q.m.met.skipped(name, req.op, "side_effect")
		return
	case !req.complete:
		q.m.met.skipped(name, req.op, "body_too_large")
		return
	}
	info := gateway.InfoFrom(r.Context())
	job := &shadowJob{
		rt: rt, op: req.op, req: r.Clone(context.Background()), info: *info, body: req.body, params: req.params,
		oldStatus: oldStatus, oldBody: bytes.Clone(oldBody), oldOutcome: oldOutcome,
	}
	if t := rt.ds.tracks[req.op]; t != nil {
		job.track, job.epoch = t, t.epoch.Load()
	}
	job.info.Outcome, job.info.Backend = "", ""
	if info.Phone != "" {
		job.phone = core.MaskPhone(info.Phone)
	}
	select {
	case <-q.quit:
		return
	default:
	}
	select {
	case q.jobs <- job:
	default:
		q.m.met.skipped(name, req.op, "queue_full")
	}
}

func (q *shadowQueue) work() {
	defer q.wg.Done()
	for {
		select {
		case <-q.quit:
			return
		case j := <-q.jobs:
			q.run(j)
		}
	}
}

// run replays a job through the route's core handler and compares: the
// outcomes, then (when they agree) the bodies field by field, noise
// compared by shape (compare.go).
func (q *shadowQueue) run(j *shadowJob) {
	rec, info, ok := q.replayOnce(j)
	if !ok {
		return
	}
	// The core's outcome as its reply's code reads: the dialect answers
	// several kinds with one code, and the old server's is read so.
	ds := j.rt.ds
	w := ds.wire
	coreOutcome := w.CoreOutcome(j.op, j.params, info.Outcome)
	kind := ""
	if coreOutcome != j.oldOutcome {
		kind = "outcome " + j.oldOutcome + "/" + coreOutcome
	} else {
		var second []byte
		if !w.ops[j.op].Acts && ds.noise.learning(j.op, coreOutcome) {
			// Two answers of the core to one request: what differs
			// between them is noise.
			if rec2, _, ok := q.replayOnce(j); ok {
				second = rec2.body.Bytes()
			}
		}
		kind = ds.noise.compare(j.op, coreOutcome, j.oldBody, rec.body.Bytes(), second)
	}
	match := kind == ""
	q.m.met.compared(ds.name, j.op, match)
	if j.track != nil {
		d := Counts{Compares: 1}
		if !match {
			d.Mismatches, d.Kinds = 1, map[string]int64{kind: 1}
		}
		if w.ops[j.op].Login && j.oldOutcome == "ok" && coreOutcome == notRegistered {
			d.OldOnly = 1
		}
		j.track.count(j.epoch, j.op, d)
		if !match {
			j.track.sample(Sample{
				At: time.Now().UTC(), Op: j.op, Kind: kind, Phone: j.phone, RequestID: j.info.RequestID,
				OldOutcome: j.oldOutcome, CoreOutcome: coreOutcome, OldStatus: j.oldStatus, CoreStatus: rec.status,
				OldBody: w.redact(j.oldBody), CoreBody: w.redact(rec.body.Bytes()),
			})
		}
	}
	if match || !q.logs.allow(time.Now()) {
		return
	}
	q.m.log.LogAttrs(context.Background(), slog.LevelWarn, "shadow mismatch",
		slog.String("dialect", ds.name), slog.String("op", j.op), slog.String("kind", kind),
		slog.String("request_id", j.info.RequestID), slog.String("phone", j.phone),
		slog.String("old_outcome", j.oldOutcome), slog.String("core_outcome", coreOutcome),
		slog.Int("old_status", j.oldStatus), slog.Int("core_status", rec.status),
		slog.String("old_body", w.redact(j.oldBody)), slog.String("core_body", w.redact(rec.body.Bytes())))
}

// replayOnce runs the job's request through the core once, with a copy of
// the request's record, and returns the reply and that record.
func (q *shadowQueue) replayOnce(j *shadowJob) (*recorder, *gateway.Info, bool) {
	info := j.info
	// WithShadow: a replay must not count against the client's limits or
	// lock the phone; the old server served the real request.
	ctx, cancel := context.WithTimeout(core.WithShadow(gateway.WithInfo(context.Background(), &info)), q.tmout)
	defer cancel()
	r := j.req.WithContext(ctx)
	r.Body = io.NopCloser(bytes.NewReader(j.body))
	r.ContentLength = int64(len(j.body))
	rec := newRecorder()
	if !q.replay(rec, r, j) {
		return nil, nil, false
	}
	return rec, &info, true
}

// replay runs the core handler; a panic in it is logged and ends only
// this comparison (the HTTP server is not there to recover it).
func (q *shadowQueue) replay(w http.ResponseWriter, r *http.Request, j *shadowJob) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			q.m.log.Error("shadow replay panicked", "dialect", j.rt.ds.name, "op", j.op, "request_id", j.info.RequestID, "panic", p)
			ok = false
		}
	}()
	j.rt.next.ServeHTTP(w, r)
	return true
}
