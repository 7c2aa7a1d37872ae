package limits

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"legacyauth/core"
)

// Inspector is implemented by a Log that can be read without recording
// anything: what operators' lock state and unlock need (MemoryLog and
// core/redis's log implement it).
type Inspector interface {
	// Peek is Take's verdict on key's log at now, without recording.
	Peek(ctx context.Context, key string, g Gate, now time.Time) (Taken, error)
	// Members lists the members of key's set remembered within keep
	// before now.
	Members(ctx context.Context, key string, now time.Time, keep time.Duration) ([]string, error)
}

// Verdict applies g to a window holding n events, the oldest and newest
// at those times (Unix nanoseconds): for Logs outside this package.
func (g Gate) Verdict(n, oldest, newest, now int64) (ok bool, retryAt int64) {
	return g.verdict(n, oldest, newest, now)
}

var _ core.LockAdmin = (*Limits)(nil)

var errNoInspector = errors.New("the limits store cannot be inspected")

// lockRules are the failure budgets that lock a phone, with their gates
// as BeginLogin and BeginCodeCheck build them.
func (l *Limits) lockRules() []step {
	return []step{{rule: &l.cfg.LoginPhone, gate: l.loginGate()}, {rule: &l.cfg.CodePhone, gate: l.codeGate()}}
}

// pools are the subjects a phone's failures are counted under: the shared
// one, and each known client's own ("+86...|d:<device>", "|a:<address>").
func (l *Limits) pools(ctx context.Context, in Inspector, phone string) ([]string, error) {
	members, err := in.Members(ctx, "known:"+phone, l.now(), KnownClientTTL)
	if err != nil {
		return nil, err
	}
	subjects := []string{phone}
	for _, m := range members {
		subjects = append(subjects, phone+"|"+m)
	}
	return subjects, nil
}

// Locks lists the phone's login and code locks in force: every pool whose
// next attempt would be refused now.
func (l *Limits) Locks(ctx context.Context, phone string) ([]core.LockInfo, error) {
	in, ok := l.events.(Inspector)
	if !ok {
		return nil, errNoInspector
	}
	subjects, err := l.pools(ctx, in, phone)
	if err != nil {
		return nil, err
	}
	now := l.now()
	var out []core.LockInfo
	for _, st := range l.lockRules() {
		if st.rule.Off {
			continue
		}
		for _, sub := range subjects {
			t, err := in.Peek(ctx, st.rule.Name+":"+sub, st.gate, now)
			if err != nil {
				return nil, err
			}
			if t.OK {
				continue
			}
			pool := "shared"
			if _, c, ok := strings.Cut(sub, "|"); ok {
				pool = map[byte]string{'d': "device", 'a': "address"}[c[0]]
			}
			out = append(out, core.LockInfo{Limit: st.rule.Name, Pool: pool, Failures: t.Count, Until: t.RetryAt})
		}
	}
	return out, nil
}

// Unlock forgets the phone's login and code failures in every pool: the
// shared one and each known client's. Known clients stay known.
func (l *Limits) Unlock(ctx context.Context, phone string) error {
	in, ok := l.events.(Inspector)
	if !ok {
		return errNoInspector
	}
	subjects, err := l.pools(ctx, in, phone)
	if err != nil {
		return err
	}
	for _, st := range l.lockRules() {
		for _, sub := range subjects {
			if err := l.events.Clear(ctx, st.rule.Name+":"+sub); err != nil {
				return err
			}
		}
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "limits: phone unlocked", slog.String("phone", core.MaskPhone(phone)))
	return nil
}

// Forget drops everything the limits keep under the phone: every
// per-phone budget in every pool (SMS, codes, logins) and its known
// clients, for an account's deletion. Budgets per address and the spend
// budget stay.
func (l *Limits) Forget(ctx context.Context, phone string) error {
	in, ok := l.events.(Inspector)
	if !ok {
		return errNoInspector
	}
	subjects, err := l.pools(ctx, in, phone)
	if err != nil {
		return err
	}
	c := &l.cfg
	for _, r := range []*Rule{&c.SMSCooldown, &c.SMSPhone, &c.SMSPhoneDay, &c.CodePhone, &c.LoginPhone, &c.LoginOK} {
		for _, sub := range subjects {
			if err := l.events.Clear(ctx, r.Name+":"+sub); err != nil {
				return err
			}
		}
	}
	return l.events.Clear(ctx, "known:"+phone)
}

func (l *MemoryLog) Peek(_ context.Context, key string, g Gate, now time.Time) (Taken, error) {
	t := now.UnixNano()
	sh := l.shard(key, t)
	defer sh.mu.Unlock()
	lg := sh.logs[key]
	if lg == nil {
		return Taken{OK: true}, nil
	}
	since := t - int64(g.Window)
	var n, oldest, newest int64
	for _, e := range lg.events {
		if e.at <= since {
			continue
		}
		if n == 0 {
			oldest = e.at
		}
		newest = e.at
		n++
	}
	ok, retry := g.verdict(n, oldest, newest, t)
	res := Taken{OK: ok, Count: n}
	if !ok {
		res.RetryAt = time.Unix(0, retry)
	}
	return res, nil
}

func (l *MemoryLog) Members(_ context.Context, key string, now time.Time, keep time.Duration) ([]string, error) {
	t := now.UnixNano()
	sh := l.shard(key, t)
	defer sh.mu.Unlock()
	var out []string
	if lg := sh.logs[key]; lg != nil {
		for _, e := range lg.events {
			if e.at > t-int64(keep) {
				out = append(out, e.id)
			}
		}
	}
	return out, nil
}

var _ Inspector = (*MemoryLog)(nil)
