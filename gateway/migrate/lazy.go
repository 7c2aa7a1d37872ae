package migrate

import (
	"log/slog"
	"net/http"

	"legacyauth/core"
	"legacyauth/gateway"
)

// Outcomes lazyLogin tells apart (core kinds' names).
var (
	notRegistered = core.NotRegistered.String()
	wrongPassword = core.WrongPassword.String()
	invalid       = core.Invalid.String()
	internal      = core.Internal.String()
	unavailable   = core.Unavailable.String()
)

// lazyLogin serves a login the core answers, for a dialect with an old
// server: when the core does not know the phone, the old server is asked
// first, in its own dialect. If it accepts the password, the user is
// imported with that password and the profile its reply carries, and the
// core then serves the login (so the client gets the core's session and
// every later login is local). If it refuses, the refusal is answered as
// the core answers one, and counted as a failed login (the core's
// brute-force locks hold for the old server's passwords too).
func (rt *route) lazyLogin(w http.ResponseWriter, r *http.Request, req *request, track *liveTrack) {
	const op = "migrate.lazyLogin"
	ctx := r.Context()
	phone := rt.phone(r, req)
	password, device := rt.ds.wire.Login(req.params)
	if phone == "" || password == "" {
		rt.next.ServeHTTP(w, r) // the core's own answer to bad input
		return
	}
	if _, err := rt.m.opts.Users.UserByPhone(ctx, phone); core.KindOf(err) != core.NotRegistered {
		rt.next.ServeHTTP(w, r) // known (or the store failed: the core reports it)
		return
	}
	// The old server's answer is a password check: it takes a slot of the
	// same budgets as the core's own, so a burst cannot use the old server
	// to pass the locks. An accepted password gives the slot back, and the
	// core's login then takes its own.
	attempt := core.NoAttempt
	if guard := rt.m.opts.Guard; guard != nil {
		a, err := guard.BeginLogin(ctx, phone, device)
		if err != nil {
			rt.next.ServeHTTP(w, r) // locked: the core answers so, without asking the old server
			return
		}
		attempt = a
	}
	info := gateway.InfoFrom(ctx)
	rec := newRecorder()
	err := rt.ds.up.relay(rec, r)
	req.rewind(r)
	if err != nil {
		attempt.Cancel(ctx)
		rt.m.met.lazyResult(rt.ds.name, "failed")
		info.Outcome = core.Unavailable.String()
		rt.d.Reject(w, r, http.StatusOK, core.Wrap(op, core.Unavailable, err))
		return
	}
	switch out := rt.ds.wire.Outcome(req.op, req.params, rec.status, rec.body.Bytes()); out {
	case "ok":
		attempt.Cancel(ctx)
		_, err := rt.m.opts.Import(ctx, core.ImportRequest{
			Phone: phone, Password: password,
			Profile:  rt.ds.wire.Profile(rec.body.Bytes()),
			DeviceID: device,
		})
		if err != nil && core.KindOf(err) != core.AlreadyRegistered { // a concurrent login may have imported it
			rt.m.met.lazyResult(rt.ds.name, "failed")
			rt.m.log.LogAttrs(ctx, slog.LevelError, "lazy migration: import failed",
				slog.String("dialect", rt.ds.name), slog.String("phone", core.MaskPhone(phone)),
				slog.String("request_id", info.RequestID), slog.String("error", err.Error()))
			// The outcome is the kind the reply renders (Wrap keeps a
			// core error's kind): a shed import is unavailable, not internal.
			info.Outcome = core.KindOf(core.Wrap(op, core.Internal, err)).String()
			rt.d.Reject(w, r, http.StatusOK, core.Wrap(op, core.Internal, err))
			return
		}
		if err == nil {
			rt.m.met.lazyResult(rt.ds.name, "migrated")
			if track != nil {
				track.count(track.epoch.Load(), req.op, Counts{LazyMigrated: 1})
			}
			rt.m.log.LogAttrs(ctx, slog.LevelInfo, "lazy migration: user imported from the old server",
				slog.String("dialect", rt.ds.name), slog.String("phone", core.MaskPhone(phone)),
				slog.String("request_id", info.RequestID))
		}
		rt.next.ServeHTTP(w, r)
	case notRegistered, wrongPassword:
		rt.m.met.lazyResult(rt.ds.name, "refused")
		attempt.Failed(ctx)
		kind := core.NotRegistered
		if out == wrongPassword {
			kind = core.WrongPassword
		}
		info.Outcome = out
		rt.d.Reject(w, r, http.StatusOK, core.E(op, kind, "the old server refused the login"))
	case invalid:
		attempt.Cancel(ctx)
		rt.m.met.lazyResult(rt.ds.name, "refused")
		rt.next.ServeHTTP(w, r) // the core's own answer to what the old server found malformed
	default:
		attempt.Cancel(ctx)
		// A server error, a limit or a reply the table cannot read: the
		// user may well exist there, so not "not registered" (which would
		// invite a second registration), but "try again".
		rt.m.met.lazyResult(rt.ds.name, "failed")
		rt.m.log.LogAttrs(ctx, slog.LevelWarn, "lazy migration: the old server gave no usable answer",
			slog.String("dialect", rt.ds.name), slog.String("outcome", out), slog.Int("status", rec.status),
			slog.String("request_id", info.RequestID))
		info.Outcome = core.Unavailable.String()
		rt.d.Reject(w, r, http.StatusOK, core.E(op, core.Unavailable, "the old server gave no usable answer"))
	}
}
