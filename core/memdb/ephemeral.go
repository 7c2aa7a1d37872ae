package memdb

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"legacyauth/core"
)

// ephemeral holds codes, tickets and flows in plain maps under one mutex:
// each operation is a few map accesses, and memory-only state needs none of
// memdb's snapshots. Values are stored by value so callers never share them.
type ephemeral struct {
	mu      sync.Mutex
	codes   map[string]core.Code
	tickets map[ticketKey]core.Ticket
	flows   map[string]core.Flow
}

type ticketKey struct {
	phone   string
	purpose core.Purpose
}

func (e *ephemeral) init() {
	e.codes = make(map[string]core.Code)
	e.tickets = make(map[ticketKey]core.Ticket)
	e.flows = make(map[string]core.Flow)
}

// sweep drops everything expired at now, so memory does not grow with
// codes nobody checks and flows nobody finishes.
func (e *ephemeral) sweep(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, c := range e.codes {
		if !now.Before(c.ExpiresAt) {
			delete(e.codes, k)
		}
	}
	for k, t := range e.tickets {
		if !now.Before(t.ExpiresAt) {
			delete(e.tickets, k)
		}
	}
	for k, f := range e.flows {
		if !now.Before(f.ExpiresAt) {
			delete(e.flows, k)
		}
	}
}

// PutCode stores c, replacing any code pending for its phone.
func (s *Store) PutCode(ctx context.Context, c *core.Code) error {
	const op = "memdb.PutCode"
	if s.closed.Load() {
		return errClosed(op)
	}
	if c == nil || c.Phone == "" {
		return core.E(op, core.Invalid, "a code needs a phone")
	}
	s.eph.mu.Lock()
	s.eph.codes[c.Phone] = *c
	s.eph.mu.Unlock()
	return nil
}

// CheckCode checks a guess against the phone's pending code; see
// core.EphemeralStore. A code is stale from its ExpiresAt on.
func (s *Store) CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (core.CodeCheck, error) {
	const op = "memdb.CheckCode"
	if s.closed.Load() {
		return core.CodeNone, errClosed(op)
	}
	s.eph.mu.Lock()
	defer s.eph.mu.Unlock()
	c, ok := s.eph.codes[phone]
	switch {
	case !ok:
		return core.CodeNone, nil
	case !now.Before(c.ExpiresAt):
		return core.CodeStale, nil // the sweeper removes it
	case c.Burned:
		return core.CodeBurned, nil
	}
	// Compare against every candidate, without stopping at a match, so
	// that timing does not tell which purpose matched.
	match := 0
	for i := range macs {
		match |= subtle.ConstantTimeCompare(c.MAC[:], macs[i][:])
	}
	if match == 1 {
		delete(s.eph.codes, phone)
		return core.CodeMatched, nil
	}
	c.Attempts++
	res := core.CodeMismatch
	if c.Attempts >= maxAttempts {
		c.Burned = true
		res = core.CodeBurned
	}
	s.eph.codes[phone] = c
	return res, nil
}

// PutTicket stores t, replacing any ticket of the same phone and purpose.
func (s *Store) PutTicket(ctx context.Context, t *core.Ticket) error {
	const op = "memdb.PutTicket"
	if s.closed.Load() {
		return errClosed(op)
	}
	if t == nil || t.Phone == "" {
		return core.E(op, core.Invalid, "a ticket needs a phone")
	}
	s.eph.mu.Lock()
	s.eph.tickets[ticketKey{t.Phone, t.Purpose}] = *t
	s.eph.mu.Unlock()
	return nil
}

// TakeTicket consumes the phone's ticket for exactly purpose when it is
// unexpired and, if hash is not nil, has that hash. A wrong hash leaves the
// ticket in place (guessing a 128-bit ticket is hopeless).
func (s *Store) TakeTicket(ctx context.Context, phone string, purpose core.Purpose, hash *[32]byte, now time.Time) error {
	const op = "memdb.TakeTicket"
	if s.closed.Load() {
		return errClosed(op)
	}
	s.eph.mu.Lock()
	defer s.eph.mu.Unlock()
	k := ticketKey{phone, purpose}
	t, ok := s.eph.tickets[k]
	switch {
	case !ok:
		return core.E(op, core.Unauthorized, "no ticket")
	case !now.Before(t.ExpiresAt):
		delete(s.eph.tickets, k)
		return core.E(op, core.Unauthorized, "ticket expired")
	case hash != nil && subtle.ConstantTimeCompare(t.Hash[:], hash[:]) != 1:
		return core.E(op, core.Unauthorized, "wrong ticket")
	}
	delete(s.eph.tickets, k)
	return nil
}

// PutFlow stores or replaces a flow.
func (s *Store) PutFlow(ctx context.Context, f *core.Flow) error {
	const op = "memdb.PutFlow"
	if s.closed.Load() {
		return errClosed(op)
	}
	if f == nil || f.ID == "" {
		return core.E(op, core.Invalid, "a flow needs an id")
	}
	s.eph.mu.Lock()
	s.eph.flows[f.ID] = *f
	s.eph.mu.Unlock()
	return nil
}

// Flow finds an unexpired flow.
func (s *Store) Flow(ctx context.Context, id string, now time.Time) (*core.Flow, error) {
	const op = "memdb.Flow"
	if s.closed.Load() {
		return nil, errClosed(op)
	}
	s.eph.mu.Lock()
	f, ok := s.eph.flows[id]
	s.eph.mu.Unlock()
	if !ok || !now.Before(f.ExpiresAt) {
		return nil, core.E(op, core.NotFound, "no such flow")
	}
	return &f, nil
}

// DeleteFlow removes a flow; a missing one is not an error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	const op = "memdb.DeleteFlow"
	if s.closed.Load() {
		return errClosed(op)
	}
	s.eph.mu.Lock()
	delete(s.eph.flows, id)
	s.eph.mu.Unlock()
	return nil
}
