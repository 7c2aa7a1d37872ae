package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RolloutOptions configure the progressive rollout of split tracks: a
// schedule of percentages (Dialect.Rollout) walked step by step while the
// gates hold.
//
// Every instance counts what it routes and compares, and every Poll adds
// its counts to the shared record (State, in State under StateKey) with a
// compare-and-swap, reads the percentages back, and evaluates the gates;
// whichever instance's swap lands first makes a decision, and every other
// instance follows it at its next poll. A step advances once it has lasted
// MinTime and seen MinRequests requests with the gates holding:
//   - the mismatch rate of the shadow comparisons (the old server's share
//     is compared in the background) of each operation is at most
//     MaxMismatch; it breaks as soon as the mismatches exceed what the
//     whole step may hold (MaxMismatch × max(compares, MinRequests));
//   - at the step's end, each operation's core error rate (5xx and the
//     dialect's server-error replies) is at most the old server's plus
//     MaxErrorIncrease.
//
// A broken gate moves the split back to the previous step, or to 0 on a
// large breach (ten times the gate), and pauses the track with the
// reason: an operator resumes it (POST /migration, `gateway migrate
// resume`).
type RolloutOptions struct {
	// State is the shared store; nil keeps the state in this process only.
	State            StateStore
	Poll             time.Duration // default 5s
	MinTime          time.Duration // per step; default 10m
	MinRequests      int           // per step; default 1000
	MaxMismatch      float64       // default 0.005
	MaxErrorIncrease float64       // default 0.001
	Now              func() time.Time
}

// largeBreach is how many times over its gate a rate must be to send the
// split back to 0 rather than to the previous step.
const largeBreach = 10

// liveTrack is a track as this instance routes it.
type liveTrack struct {
	key, dialect, op string
	ops              []string
	mode             Mode
	steps            []int
	initial          int // the percentage before any state is stored

	percent atomic.Int32
	epoch   atomic.Int64

	mu      sync.Mutex
	pending map[int64]map[string]*Counts // by epoch, then operation
	samples []Sample
}

// rollout reports whether the track walks a schedule (its old server's
// share is then shadowed, for the mismatch gate).
func (t *liveTrack) rollout() bool { return t.mode == Split && len(t.steps) > 0 }

// count adds d to operation op's counts of the given epoch.
func (t *liveTrack) count(epoch int64, op string, d Counts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[int64]map[string]*Counts{}
	}
	t.pending[epoch] = addCounts(t.pending[epoch], op, &d)
}

func (t *liveTrack) sample(s Sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples = append(t.samples, s)
	if len(t.samples) > maxSamples {
		t.samples = t.samples[len(t.samples)-maxSamples:]
	}
}

// taken is what a sync took out of a track, to put back if it fails.
type taken struct {
	pending map[int64]map[string]*Counts
	samples []Sample
}

func (t *liveTrack) take() taken {
	t.mu.Lock()
	defer t.mu.Unlock()
	tk := taken{t.pending, t.samples}
	t.pending, t.samples = nil, nil
	return tk
}

func (t *liveTrack) putBack(tk taken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for epoch, ops := range tk.pending {
		if t.pending == nil {
			t.pending = map[int64]map[string]*Counts{}
		}
		for op, c := range ops {
			t.pending[epoch] = addCounts(t.pending[epoch], op, c)
		}
	}
	t.samples = append(tk.samples, t.samples...)
	if len(t.samples) > maxSamples {
		t.samples = t.samples[len(t.samples)-maxSamples:]
	}
}

// controller keeps this instance's tracks in step with the shared state.
type controller struct {
	m      *Migrator
	opts   RolloutOptions
	tracks map[string]*liveTrack
	order  []string

	mu    sync.Mutex // serializes syncs; guards last
	last  *State
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	fails atomic.Int64
}

func newController(m *Migrator, o RolloutOptions) *controller {
	if o.State == nil {
		o.State = NewMemoryState()
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.MinTime <= 0 {
		o.MinTime = 10 * time.Minute
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 1000
	}
	if o.MaxMismatch <= 0 {
		o.MaxMismatch = 0.005
	}
	if o.MaxErrorIncrease < 0 {
		o.MaxErrorIncrease = 0
	} else if o.MaxErrorIncrease == 0 {
		o.MaxErrorIncrease = 0.001
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &controller{m: m, opts: o, tracks: map[string]*liveTrack{}, quit: make(chan struct{})}
}

func (c *controller) add(t *liveTrack) {
	t.percent.Store(int32(t.initial))
	c.tracks[t.key] = t
	c.order = append(c.order, t.key)
}

// start loads the stored state (so that the first requests follow it)
// and polls it from then on.
func (c *controller) start() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := c.sync(ctx, nil); err != nil {
		c.m.log.Warn("migration state: not loaded at start; polling it", "error", err.Error())
	}
	cancel()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(c.opts.Poll)
		defer tick.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), max(c.opts.Poll, 5*time.Second))
				if err := c.sync(ctx, nil); err != nil {
					if c.fails.Add(1)%12 == 1 { // about once a minute at the default poll
						c.m.log.Warn("migration state: poll failed", "error", err.Error())
					}
				} else {
					c.fails.Store(0)
				}
				cancel()
			}
		}
	}()
}

func (c *controller) close() {
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
	// The last counts, so that a rolling restart loses none.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.sync(ctx, nil)
}

// errNoChange is returned by a mutation that changes nothing.
var errNoChange = errors.New("no change")

// sync adds this instance's counts to the shared state, evaluates the
// gates, applies mutate (an operator's command) when not nil, and stores
// the result with a compare-and-swap, retried on a lost race; then it
// applies the stored percentages to this instance's routing.
func (c *controller) sync(ctx context.Context, mutate func(*State, time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		raw, version, err := c.opts.State.LoadState(ctx, StateKey)
		if err != nil {
			return err
		}
		st := &State{}
		if raw != nil {
			if err := json.Unmarshal(raw, st); err != nil {
				return fmt.Errorf("the stored migration state is not readable: %w", err)
			}
		}
		if st.Tracks == nil {
			st.Tracks = map[string]*Track{}
		}
		now := c.opts.Now()
		takes := map[string]taken{}
		for _, key := range c.order {
			takes[key] = c.tracks[key].take()
		}
		changed := c.merge(st, takes, now)
		if mutate != nil {
			switch err := mutate(st, now); {
			case err == nil:
				changed = true
			case !errors.Is(err, errNoChange):
				c.putBack(takes)
				return err
			}
		}
		if !changed {
			c.putBack(takes) // nothing taken had counts; keeps any samples
			c.apply(st)
			return nil
		}
		st.UpdatedAt = now
		b, err := json.Marshal(st)
		if err != nil {
			c.putBack(takes)
			return err
		}
		ok, err := c.opts.State.CompareAndSwapState(ctx, StateKey, version, b)
		if err != nil || !ok {
			c.putBack(takes)
			if err != nil {
				return err
			}
			if attempt >= 10 {
				return errors.New("the migration state changed under every attempt to update it")
			}
			continue
		}
		c.apply(st)
		return nil
	}
}

func (c *controller) putBack(takes map[string]taken) {
	for key, tk := range takes {
		c.tracks[key].putBack(tk)
	}
}

// merge adds the local tracks missing from st, the counts taken, and the
// gates' decisions; it reports whether st changed.
func (c *controller) merge(st *State, takes map[string]taken, now time.Time) bool {
	changed := false
	for _, key := range c.order {
		lt := c.tracks[key]
		t := st.Tracks[key]
		if t == nil {
			t = &Track{Dialect: lt.dialect, Op: lt.op, Percent: lt.initial, Epoch: 1, Since: now}
			st.Tracks[key] = t
			changed = true
		}
		if t.Mode != lt.mode || !slices.Equal(t.Steps, lt.steps) || !slices.Equal(t.Ops, lt.ops) {
			t.Mode, t.Steps, t.Ops = lt.mode, lt.steps, lt.ops
			changed = true
		}
		tk := takes[key]
		for epoch, ops := range tk.pending {
			for op, d := range ops {
				if d.empty() {
					continue
				}
				changed = true
				t.Total = addCounts(t.Total, op, d)
				if epoch == t.Epoch {
					t.Step = addCounts(t.Step, op, d)
				}
			}
		}
		if len(tk.samples) > 0 {
			changed = true
			t.Samples = append(t.Samples, tk.samples...)
			if len(t.Samples) > maxSamples {
				t.Samples = t.Samples[len(t.Samples)-maxSamples:]
			}
		}
		if c.decide(t, now) {
			changed = true
		}
	}
	return changed
}

// decide evaluates a track's gates and moves its step; it reports whether
// it changed the track.
func (c *controller) decide(t *Track, now time.Time) bool {
	if t.Mode != Split || len(t.Steps) == 0 || t.Paused || t.Complete {
		return false
	}
	o := c.opts
	var total, oldReq, oldErr int64
	for _, op := range sortedKeys(t.Step) {
		s := t.Step[op]
		total += s.CoreRequests + s.OldRequests
		oldReq += s.OldRequests
		oldErr += s.OldErrors
	}
	ended := now.Sub(t.Since) >= o.MinTime && total >= int64(o.MinRequests)
	for _, op := range sortedKeys(t.Step) {
		s := t.Step[op]
		if s.Compares > 0 {
			allowed := o.MaxMismatch * float64(max(s.Compares, int64(o.MinRequests)))
			if float64(s.Mismatches) > allowed {
				rate := float64(s.Mismatches) / float64(s.Compares)
				why := fmt.Sprintf("%s.%s: %d of %d shadow comparisons mismatched (%.2f%%, gate %.2f%%)%s",
					t.Dialect, op, s.Mismatches, s.Compares, 100*rate, 100*o.MaxMismatch, topKind(s.Kinds))
				c.fallBack(t, now, why, rate >= largeBreach*o.MaxMismatch)
				return true
			}
		}
		if ended && s.CoreRequests > 0 {
			base := oldReq
			baseErr := oldErr
			if s.OldRequests > 0 {
				base, baseErr = s.OldRequests, s.OldErrors
			}
			oldRate := 0.0
			if base > 0 {
				oldRate = float64(baseErr) / float64(base)
			}
			coreRate := float64(s.CoreErrors) / float64(s.CoreRequests)
			if coreRate > oldRate+o.MaxErrorIncrease {
				why := fmt.Sprintf("%s.%s: core error rate %.2f%% (%d of %d) above the old server's %.2f%%",
					t.Dialect, op, 100*coreRate, s.CoreErrors, s.CoreRequests, 100*oldRate)
				c.fallBack(t, now, why, coreRate-oldRate > largeBreach*o.MaxErrorIncrease)
				return true
			}
		}
	}
	if !ended {
		return false
	}
	next := -1
	for _, s := range t.Steps {
		if s > t.Percent {
			next = s
			break
		}
	}
	if next < 0 {
		t.Complete = true
		return true
	}
	t.move(now, next, fmt.Sprintf("gates held for %s and %d requests", now.Sub(t.Since).Round(time.Second), total))
	return true
}

// fallBack moves a track to its previous step (0 on a large breach) and
// pauses it with the reason.
func (c *controller) fallBack(t *Track, now time.Time, why string, large bool) {
	to := 0
	if !large {
		for _, s := range t.Steps {
			if s < t.Percent {
				to = s
			}
		}
	}
	from := t.Percent
	t.move(now, to, why)
	t.Paused = true
	t.Reason = fmt.Sprintf("%s; split moved from %d%% to %d%%", why, from, to)
	c.m.log.Warn("migration rollout paused", "track", trackKey(t.Dialect, t.Op), "reason", t.Reason)
}

// move sets a new percentage: a new step, with its own counts.
func (t *Track) move(now time.Time, to int, why string) {
	t.History = append(t.History, Change{At: now, From: t.Percent, To: to, Why: why})
	if len(t.History) > maxHistory {
		t.History = t.History[len(t.History)-maxHistory:]
	}
	t.Percent = to
	t.Epoch++
	t.Since = now
	t.Step = nil
	t.Complete = false
}

// topKind names the most frequent mismatch kind, for a reason.
func topKind(kinds map[string]int64) string {
	best, n := "", int64(0)
	for _, k := range sortedKeys(kinds) {
		if kinds[k] > n {
			best, n = k, kinds[k]
		}
	}
	if best == "" {
		return ""
	}
	return "; mostly " + best
}

// apply makes this instance route by st.
func (c *controller) apply(st *State) {
	c.last = st
	for _, key := range c.order {
		lt := c.tracks[key]
		if t := st.Tracks[key]; t != nil {
			lt.percent.Store(int32(t.Percent))
			lt.epoch.Store(t.Epoch)
		}
	}
	c.m.met.rollout(st, c.tracks)
}

// Command is an operator's change: Action "pause", "resume" or "set";
// Target a track ("apiv4", "apiv4.login"), or for pause and resume "" (every
// track) or a dialect (its tracks); Percent for set.
type Command struct {
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
	Percent *int   `json:"percent,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Apply changes st as cmd says, at now. It is what POST /migration and
// `gateway migrate` do, on the shared record.
func (cmd Command) Apply(st *State, now time.Time) error {
	var targets []*Track
	for _, key := range sortedKeys(st.Tracks) {
		t := st.Tracks[key]
		if cmd.Target == "" || cmd.Target == key || (cmd.Target == t.Dialect && cmd.Action != "set") {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		if cmd.Target == "" {
			return fmt.Errorf("no migration track yet: no dialect has an old server")
		}
		if d, op, found := strings.Cut(cmd.Target, "."); found && st.Tracks[d] != nil {
			return fmt.Errorf("%s follows %s's mode; give %s a mode of its own (GATEWAY_%s_MODES=%s=split) to steer it alone", cmd.Target, d, op, strings.ToUpper(d), op)
		}
		return fmt.Errorf("no migration track %q (tracks: %s)", cmd.Target, strings.Join(sortedKeys(st.Tracks), ", "))
	}
	who := "an operator"
	if cmd.Reason != "" {
		who += " (" + cmd.Reason + ")"
	}
	switch cmd.Action {
	case "pause":
		for _, t := range targets {
			if !t.Paused {
				t.Paused, t.Reason = true, "paused by "+who
			}
		}
	case "resume":
		for _, t := range targets {
			if t.Paused {
				// A fresh step: counts from before the pause are not this
				// step's.
				t.Paused, t.Reason = false, ""
				t.Epoch++
				t.Since, t.Step = now, nil
			}
		}
	case "set":
		if cmd.Target == "" {
			return fmt.Errorf("set needs a track: <dialect>[.<op>]")
		}
		if cmd.Percent == nil || *cmd.Percent < 0 || *cmd.Percent > 100 {
			return fmt.Errorf("set needs a percentage from 0 to 100")
		}
		t := targets[0]
		if t.Mode != Split {
			return fmt.Errorf("%s is in %s mode: a percentage applies to split mode only", cmd.Target, t.Mode)
		}
		t.move(now, *cmd.Percent, "set by "+who)
		t.Paused, t.Reason = len(t.Steps) > 0, fmt.Sprintf("set to %d%% by %s; resume to continue the schedule", *cmd.Percent, who)
		if !t.Paused {
			t.Reason = ""
		}
	default:
		return fmt.Errorf("unknown action %q: want pause, resume or set", cmd.Action)
	}
	return nil
}
