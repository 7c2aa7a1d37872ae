package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
)

// StateStore keeps small records every gateway instance shares, read and
// replaced whole: the rollout's state lives in one (StateKey), so all
// instances follow the same step and it survives restarts. core/memdb and
// core/postgres implement it.
type StateStore interface {
	// LoadState returns the record under key and its version; nil and
	// version 0 when there is none.
	LoadState(ctx context.Context, key string) (value []byte, version int64, err error)
	// CompareAndSwapState stores value under key when the stored version
	// is still version (0: none yet) and reports whether it did; the new
	// version is version+1.
	CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (bool, error)
}

// StateKey is the record holding the migration's state.
const StateKey = "migration"

// State is the shared record: every track's percentage, step, pause and
// counts. It is JSON in the store, and GET /migration answers it.
type State struct {
	Tracks    map[string]*Track `json:"tracks"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Track is one unit of a rollout: a dialect (its operations without a
// mode of their own) or one operation with its own mode
// (GATEWAY_<DIALECT>_MODES).
type Track struct {
	Dialect string   `json:"dialect"`
	Op      string   `json:"op,omitempty"` // "" for the dialect's own mode
	Ops     []string `json:"ops"`          // the operations it covers
	Mode    Mode     `json:"mode"`
	Steps   []int    `json:"steps,omitempty"` // the schedule; empty: no automatic rollout
	// Percent is the share of phones the core serves in split mode.
	Percent int `json:"percent"`
	// Epoch changes with every change of Percent: counts taken under an
	// older epoch are not this step's.
	Epoch    int64     `json:"epoch"`
	Since    time.Time `json:"since"` // when this step began
	Paused   bool      `json:"paused,omitempty"`
	Reason   string    `json:"reason,omitempty"` // why it paused
	Complete bool      `json:"complete,omitempty"`
	// Step and Total are counts by operation: this step's, and since the
	// track was created.
	Step    map[string]*Counts `json:"step"`
	Total   map[string]*Counts `json:"total"`
	Samples []Sample           `json:"samples,omitempty"` // the last mismatches, masked
	History []Change           `json:"history,omitempty"` // the last changes of Percent
}

// Counts are what a track's gates read, by operation.
type Counts struct {
	CoreRequests int64 `json:"core_requests"`
	CoreErrors   int64 `json:"core_errors"` // 5xx and the dialect's server-error replies
	OldRequests  int64 `json:"old_requests"`
	OldErrors    int64 `json:"old_errors"`
	Compares     int64 `json:"compares"`
	Mismatches   int64 `json:"mismatches"`
	// Kinds counts mismatches by kind: "outcome ok/wrong_password",
	// "value data.name", "shape data.token", "field data.x".
	Kinds map[string]int64 `json:"mismatch_kinds,omitempty"`
	// LazyMigrated: users imported at login from the old server.
	LazyMigrated int64 `json:"lazy_migrated"`
	// OldOnly: compared logins the old server accepted for a phone the
	// core does not know (users still only on the old server).
	OldOnly int64 `json:"old_only"`
}

// Sample is one mismatch, masked as the log line is.
type Sample struct {
	At          time.Time `json:"at"`
	Op          string    `json:"op"`
	Kind        string    `json:"kind"`
	Phone       string    `json:"phone,omitempty"` // masked
	RequestID   string    `json:"request_id,omitempty"`
	OldOutcome  string    `json:"old_outcome"`
	CoreOutcome string    `json:"core_outcome"`
	OldStatus   int       `json:"old_status"`
	CoreStatus  int       `json:"core_status"`
	OldBody     string    `json:"old_body"`  // redacted
	CoreBody    string    `json:"core_body"` // redacted
}

// Change is one change of a track's percentage.
type Change struct {
	At   time.Time `json:"at"`
	From int       `json:"from"`
	To   int       `json:"to"`
	Why  string    `json:"why"`
}

const (
	maxSamples = 5
	maxHistory = 20
	maxKinds   = 20
)

// trackKey names a track: "apiv4" or "apiv4.login".
func trackKey(dialect, op string) string {
	if op == "" {
		return dialect
	}
	return dialect + "." + op
}

// StepIndex is how many of the schedule's steps the percentage has
// reached (0: before the first).
func (t *Track) StepIndex() int {
	n := 0
	for _, s := range t.Steps {
		if s <= t.Percent {
			n++
		}
	}
	return n
}

// StepLabel is "2/5", or "" without a schedule.
func (t *Track) StepLabel() string {
	if len(t.Steps) == 0 {
		return ""
	}
	return strconv.Itoa(t.StepIndex()) + "/" + strconv.Itoa(len(t.Steps))
}

func (c *Counts) add(d *Counts) {
	c.CoreRequests += d.CoreRequests
	c.CoreErrors += d.CoreErrors
	c.OldRequests += d.OldRequests
	c.OldErrors += d.OldErrors
	c.Compares += d.Compares
	c.Mismatches += d.Mismatches
	c.LazyMigrated += d.LazyMigrated
	c.OldOnly += d.OldOnly
	for k, n := range d.Kinds {
		if c.Kinds == nil {
			c.Kinds = map[string]int64{}
		}
		if _, found := c.Kinds[k]; !found && len(c.Kinds) >= maxKinds {
			k = "other"
		}
		c.Kinds[k] += n
	}
}

func (c *Counts) empty() bool {
	return c.CoreRequests == 0 && c.OldRequests == 0 && c.Compares == 0 && c.LazyMigrated == 0 && c.OldOnly == 0
}

func addCounts(m map[string]*Counts, op string, d *Counts) map[string]*Counts {
	if m == nil {
		m = map[string]*Counts{}
	}
	c := m[op]
	if c == nil {
		c = &Counts{}
		m[op] = c
	}
	c.add(d)
	return m
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// LoadState reads the migration state from a store (as an instance
// last stored it).
func LoadState(ctx context.Context, s StateStore) (*State, error) {
	raw, _, err := s.LoadState(ctx, StateKey)
	if err != nil {
		return nil, err
	}
	st := &State{Tracks: map[string]*Track{}}
	if raw != nil {
		if err := json.Unmarshal(raw, st); err != nil {
			return nil, fmt.Errorf("the stored migration state is not readable: %w", err)
		}
	}
	return st, nil
}

// UpdateState changes the stored migration state with mutate (such as
// Command.Apply) by compare-and-swap, retried when another instance wrote
// in between; instances follow at their next poll.
func UpdateState(ctx context.Context, s StateStore, mutate func(*State, time.Time) error) error {
	for attempt := 0; attempt < 10; attempt++ {
		raw, version, err := s.LoadState(ctx, StateKey)
		if err != nil {
			return err
		}
		st := &State{Tracks: map[string]*Track{}}
		if raw != nil {
			if err := json.Unmarshal(raw, st); err != nil {
				return fmt.Errorf("the stored migration state is not readable: %w", err)
			}
		}
		now := time.Now()
		if err := mutate(st, now); err != nil {
			return err
		}
		st.UpdatedAt = now
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if ok, err := s.CompareAndSwapState(ctx, StateKey, version, b); err != nil || ok {
			return err
		}
	}
	return errors.New("the migration state changed under every attempt to update it")
}

// memState is a StateStore in memory: one instance's, lost at exit.
type memState struct {
	mu   sync.Mutex
	recs map[string]memRec
}

type memRec struct {
	value   []byte
	version int64
}

// NewMemoryState returns a StateStore held in memory (one instance, for
// tests and for a gateway without a shared store).
func NewMemoryState() StateStore { return &memState{recs: map[string]memRec{}} }

func (s *memState) LoadState(_ context.Context, key string) ([]byte, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recs[key]
	return r.value, r.version, nil
}

func (s *memState) CompareAndSwapState(_ context.Context, key string, version int64, value []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs[key].version != version {
		return false, nil
	}
	s.recs[key] = memRec{value: value, version: version + 1}
	return true, nil
}
