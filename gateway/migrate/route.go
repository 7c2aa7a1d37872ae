package migrate

import (
	"context"
	"errors"
	"hash/fnv"
	"net/http"
	"strings"

	"legacyauth/core"
	"legacyauth/gateway"
)

// route is one wrapped route.
type route struct {
	m    *Migrator
	ds   *dialectState
	d    gateway.Dialect
	rt   gateway.Route // its MaxBody set by the gateway
	next http.Handler  // the route's body limit and handler: the core
}

// request is what route learns of a request before choosing.
type request struct {
	body     []byte // the buffered body (all of it when complete)
	complete bool   // the whole body is in body (at most rt.MaxBody bytes)
	params   gateway.Params
	parsed   bool // params were read without error
	op       string
}

func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := rt.read(r)
	mode := rt.ds.cfg.ModeOf(req.op)
	if mode != Core && !cleanPathVars(r) {
		// A path variable that is not a plain value (/sendsms/.., %2e%2e,
		// an encoded slash) could make an upstream that normalises paths
		// serve another endpoint than the one counted and routed here: the
		// core answers it (with the dialect's invalid-input reply).
		mode = Core
	}
	track := rt.ds.tracks[req.op]
	shadowOld := false
	if mode == Split {
		mode = Proxy
		if rt.toCore(r, req, track) {
			mode = Core
		}
		// A rollout's gates read the comparison of the old server's share.
		shadowOld = track != nil && track.rollout()
	}
	switch mode {
	case Core:
		rt.core(w, r, req, track)
	case Proxy:
		rt.proxy(w, r, req, shadowOld, track)
	case Shadow:
		rt.proxy(w, r, req, true, track)
	}
}

// serverError reports whether an outcome is a server error: the core's
// internal and unavailable, an old server's reply read as those (the
// dialect's server-error code), or any 5xx.
func serverError(outcome string, status int) bool {
	return outcome == internal || outcome == unavailable || status >= 500 || strings.HasPrefix(outcome, "unreadable 5")
}

// cleanPathVars reports whether every path variable of the route (the
// apiv4 phone in /sendsms/{mobile}) is plain: digits, letters, '+', '-'.
func cleanPathVars(r *http.Request) bool {
	for _, v := range gateway.Vars(r) {
		for _, c := range v {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '-') {
				return false
			}
		}
	}
	return true
}

// phone returns the request's phone in E.164, "" when it names none (or
// not a valid one). It records a mainland mobile for the log line.
func (rt *route) phone(r *http.Request, req *request) string {
	if !req.parsed {
		return ""
	}
	raw := rt.ds.wire.Phone(req.op, r, req.params)
	p, err := core.NormalizePhone(raw)
	if err != nil {
		return ""
	}
	gateway.SetPhoneIfMobile(r, raw)
	return p
}

// toCore decides a Split request: by its phone's bucket, or, naming no
// phone, by whether the flow its cookie names is the core's (the send
// step that started it was split by phone). Anything else goes to the
// old server, as before the split.
func (rt *route) toCore(r *http.Request, req *request, track *liveTrack) bool {
	percent := rt.ds.cfg.SplitPercent
	if track != nil {
		percent = int(track.percent.Load())
	}
	if phone := rt.phone(r, req); phone != "" {
		return Bucket(phone) < percent
	}
	if rt.m.opts.Flows != nil {
		if id := rt.ds.wire.Flow(r); id != "" {
			_, err := rt.m.opts.Flows(r.Context(), id)
			return err == nil
		}
	}
	return false
}

// Bucket places a phone (E.164) in one of 100 buckets, by FNV-1a: the
// same phone always lands in the same one, so a Split sends it the same
// way every time, and raising the percentage only moves phones to the
// core.
func Bucket(phone string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(phone))
	return int(h.Sum32() % 100)
}

// core hands the request to the core: through lazy migration for a login
// when the dialect has an old server.
func (rt *route) core(w http.ResponseWriter, r *http.Request, req *request, track *liveTrack) {
	info := gateway.InfoFrom(r.Context())
	info.Backend = "core"
	rt.m.met.routed(rt.ds.name, req.op, "core")
	if track != nil {
		epoch := track.epoch.Load()
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			d := Counts{CoreRequests: 1}
			if serverError(info.Outcome, sw.status) {
				d.CoreErrors = 1
			}
			track.count(epoch, req.op, d)
		}()
	}
	if rt.ds.up != nil && rt.ds.wire.ops[req.op].Login && req.parsed && rt.m.opts.Import != nil && rt.m.opts.Users != nil {
		rt.lazyLogin(w, r, req, track)
		return
	}
	rt.next.ServeHTTP(w, r)
}

// proxy relays the request to the old server and its reply to the
// client, and queues a shadow comparison when asked.
func (rt *route) proxy(w http.ResponseWriter, r *http.Request, req *request, shadow bool, track *liveTrack) {
	info := gateway.InfoFrom(r.Context())
	info.Backend = "upstream"
	rt.m.met.routed(rt.ds.name, req.op, "upstream")
	rt.phone(r, req) // for the log line
	cw := &captureWriter{ResponseWriter: w}
	if track != nil {
		epoch := track.epoch.Load()
		defer func() {
			d := Counts{OldRequests: 1}
			if serverError(info.Outcome, cw.status) {
				d.OldErrors = 1
			}
			track.count(epoch, req.op, d)
		}()
	}
	if err := rt.ds.up.relay(cw, r); err != nil {
		info.Outcome = core.Unavailable.String()
		if shadow {
			rt.m.met.skipped(rt.ds.name, req.op, "upstream_failed")
		}
		if !cw.wrote && !errors.Is(err, context.Canceled) {
			rt.d.Reject(w, r, http.StatusOK, core.Wrap("migrate.proxy", core.Unavailable, err))
		}
		return
	}
	out := rt.ds.wire.Outcome(req.op, req.params, cw.status, cw.body.Bytes())
	if isKind(out) {
		info.Outcome = out
	}
	if shadow {
		rt.m.shadow.offer(rt, r, req, cw.status, cw.body.Bytes(), out)
	}
}
