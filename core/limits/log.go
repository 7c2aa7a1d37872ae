package limits

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// Log is the store behind rolling windows: for each key, the times of its
// recent events, each with an id so that one can be taken back. Every
// method is atomic for its key, so concurrent callers on several instances
// sharing one Log (Redis) never admit more than a Gate allows.
// MemoryLog serves one instance; core/redis serves several.
type Log interface {
	// Take records event id at now in key's log if g admits it (or g.Force
	// is set), after dropping the events that left g's window.
	Take(ctx context.Context, key, id string, g Gate, now time.Time) (Taken, error)
	// Return removes event id from key's log: an attempt that turned out
	// not to be a failure. A missing event is not an error.
	Return(ctx context.Context, key, id string) error
	// Clear forgets key's log.
	Clear(ctx context.Context, key string) error
	// Remember records member in key's set at now, keeping it for keep and
	// at most the newest max members.
	Remember(ctx context.Context, key, member string, now time.Time, keep time.Duration, max int) error
	// Knows reports whether member was remembered in key's set within keep
	// before now.
	Knows(ctx context.Context, key, member string, now time.Time, keep time.Duration) (bool, error)
}

// Gate says how many events a rolling window admits.
type Gate struct {
	Window time.Duration // an event counts for this long after it happened
	Quota  int64         // events admitted within any Window
	// Backoff, when set, admits events past Quota too, each only
	// Backoff·2^(k-1) (at most MaxBackoff) after the newest, where k is
	// how many events past Quota the window holds: the login back-off.
	// Without it, the gate opens when the oldest event leaves the window.
	Backoff, MaxBackoff time.Duration
	Force               bool // record even when refused (dry-run rules)
}

// Taken is a Gate's verdict.
type Taken struct {
	OK      bool
	Count   int64     // events in the window, this one included when recorded
	RetryAt time.Time // when refused: when the gate admits the next event
}

// verdict applies g to a window's events (times in Unix nanoseconds,
// oldest first, none older than the window): the one rule both stores
// follow. core/redis's script repeats it in Lua.
func (g Gate) verdict(n int64, oldest, newest, now int64) (ok bool, retryAt int64) {
	if n < g.Quota {
		return true, 0
	}
	if g.Backoff <= 0 {
		return false, oldest + int64(g.Window)
	}
	wait := int64(g.Backoff)
	for k := n - g.Quota; k > 0 && wait < int64(g.MaxBackoff); k-- {
		wait *= 2
	}
	wait = min(wait, int64(g.MaxBackoff))
	if now >= newest+wait {
		return true, 0
	}
	return false, newest + wait
}

// MemoryLog is the Log of a single instance: event logs and sets in maps
// spread over shards, each under its own mutex.
type MemoryLog struct {
	seed   maphash.Seed
	shards [memShards]logShard
}

type logShard struct {
	mu        sync.Mutex
	logs      map[string]*eventLog
	nextSweep int64
}

// eventLog holds one key's events, oldest first (sets keep one event per
// member). until is when the newest event leaves its window, for sweeping.
type eventLog struct {
	events []event
	until  int64
}

type event struct {
	at int64 // Unix nanoseconds
	id string
}

var _ Log = (*MemoryLog)(nil)

// NewMemoryLog returns an empty MemoryLog.
func NewMemoryLog() *MemoryLog {
	l := &MemoryLog{seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].logs = map[string]*eventLog{}
	}
	return l
}

// shard locks and returns key's shard, first dropping the shard's
// finished logs when its sweep is due by now, the caller's clock (at most
// every sweepEvery; 0 skips it).
func (l *MemoryLog) shard(key string, now int64) *logShard {
	sh := &l.shards[maphash.String(l.seed, key)%memShards]
	sh.mu.Lock()
	if now == 0 {
		return sh
	}
	if now >= sh.nextSweep || now < sh.nextSweep-int64(2*sweepEvery) { // due, or the clock stepped back
		for k, lg := range sh.logs {
			if lg.until <= now {
				delete(sh.logs, k)
			}
		}
		sh.nextSweep = now + int64(sweepEvery)
	}
	return sh
}

// trim drops the events at or before since.
func (lg *eventLog) trim(since int64) {
	i := 0
	for i < len(lg.events) && lg.events[i].at <= since {
		i++
	}
	if i > 0 {
		lg.events = append(lg.events[:0], lg.events[i:]...)
	}
}

// insert adds e in time order. Events mostly come in order, but callers
// read their clock before they get the shard's lock (and instances' clocks
// differ), so one may be older than the newest: trim and the gate's
// oldest and newest rely on the order.
func (lg *eventLog) insert(e event) {
	i := len(lg.events)
	for i > 0 && lg.events[i-1].at > e.at {
		i--
	}
	lg.events = slices.Insert(lg.events, i, e)
}

// open returns key's log, made when there is none, without the events at
// or before since. The shard is locked.
func (sh *logShard) open(key string, since int64) *eventLog {
	lg := sh.logs[key]
	if lg == nil {
		lg = &eventLog{}
		sh.logs[key] = lg
	}
	lg.trim(since)
	return lg
}

// remove drops the event id, if the log holds it.
func (lg *eventLog) remove(id string) {
	if i := slices.IndexFunc(lg.events, func(e event) bool { return e.id == id }); i >= 0 {
		lg.events = slices.Delete(lg.events, i, i+1)
	}
}

func (l *MemoryLog) Take(_ context.Context, key, id string, g Gate, now time.Time) (Taken, error) {
	t := now.UnixNano()
	sh := l.shard(key, t)
	defer sh.mu.Unlock()
	lg := sh.open(key, t-int64(g.Window))
	var oldest, newest int64
	if n := len(lg.events); n > 0 {
		oldest, newest = lg.events[0].at, lg.events[n-1].at
	}
	ok, retry := g.verdict(int64(len(lg.events)), oldest, newest, t)
	if ok || g.Force {
		lg.insert(event{at: t, id: id})
		lg.until = max(lg.until, t+int64(g.Window))
	}
	res := Taken{OK: ok, Count: int64(len(lg.events))}
	if !ok {
		res.RetryAt = time.Unix(0, retry)
	}
	return res, nil
}

func (l *MemoryLog) Return(_ context.Context, key, id string) error {
	sh := l.shard(key, 0)
	defer sh.mu.Unlock()
	if lg := sh.logs[key]; lg != nil {
		lg.remove(id)
	}
	return nil
}

func (l *MemoryLog) Clear(_ context.Context, key string) error {
	sh := l.shard(key, 0)
	defer sh.mu.Unlock()
	delete(sh.logs, key)
	return nil
}

func (l *MemoryLog) Remember(_ context.Context, key, member string, now time.Time, keep time.Duration, max int) error {
	t := now.UnixNano()
	sh := l.shard(key, t)
	defer sh.mu.Unlock()
	lg := sh.open(key, t-int64(keep))
	lg.remove(member)
	lg.insert(event{at: t, id: member})
	if n := len(lg.events); n > max {
		lg.events = append(lg.events[:0], lg.events[n-max:]...)
	}
	if u := t + int64(keep); u > lg.until {
		lg.until = u
	}
	return nil
}

func (l *MemoryLog) Knows(_ context.Context, key, member string, now time.Time, keep time.Duration) (bool, error) {
	t := now.UnixNano()
	sh := l.shard(key, t)
	defer sh.mu.Unlock()
	if lg := sh.logs[key]; lg != nil {
		for _, e := range lg.events {
			if e.id == member && e.at > t-int64(keep) {
				return true, nil
			}
		}
	}
	return false, nil
}
