package memdb

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"legacyauth/core"
)

// Shared state records (gateway/migrate.StateStore) are few and small and
// change every few seconds at most, so they are not kept in the log: the
// whole set is one JSON file in the data directory, replaced atomically
// (written to state.json.tmp, fsynced, renamed, directory fsynced). One
// process holds the directory (LOCK), so a mutex makes the swap atomic.

const (
	stateName    = "state.json"
	stateTmpName = "state.json.tmp"
)

type stateRecord struct {
	Value   []byte `json:"value"`
	Version int64  `json:"version"`
}

// LoadState returns the record stored under key and its version; nil and
// version 0 when there is none.
func (s *Store) LoadState(ctx context.Context, key string) ([]byte, int64, error) {
	const op = "memdb.LoadState"
	if s.closed.Load() {
		return nil, 0, core.E(op, core.Unavailable, "store is closed")
	}
	s.stateMu().Lock()
	defer s.stateMu().Unlock()
	recs, err := s.readState()
	if err != nil {
		return nil, 0, core.Wrap(op, core.Internal, err)
	}
	r, found := recs[key]
	if !found {
		return nil, 0, nil
	}
	return r.Value, r.Version, nil
}

// CompareAndSwapState stores value under key when the stored version is
// still version (0: no record yet), and reports whether it did. A swap
// that returned true is durable.
func (s *Store) CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (bool, error) {
	const op = "memdb.CompareAndSwapState"
	if value == nil {
		return false, core.E(op, core.Invalid, "a state record needs a value")
	}
	if s.closed.Load() {
		return false, core.E(op, core.Unavailable, "store is closed")
	}
	s.stateMu().Lock()
	defer s.stateMu().Unlock()
	recs, err := s.readState()
	if err != nil {
		return false, core.Wrap(op, core.Internal, err)
	}
	if recs[key].Version != version {
		return false, nil
	}
	recs[key] = stateRecord{Value: value, Version: version + 1}
	if err := s.writeState(recs); err != nil {
		return false, core.Wrap(op, core.Unavailable, err)
	}
	return true, nil
}

// stateMu serializes state swaps. They are rare (every few seconds), so
// one lock for every open store will do.
var stateLock sync.Mutex

func (s *Store) stateMu() *sync.Mutex { return &stateLock }

func (s *Store) readState() (map[string]stateRecord, error) {
	recs := map[string]stateRecord{}
	b, err := os.ReadFile(filepath.Join(s.dir, stateName))
	if errors.Is(err, os.ErrNotExist) {
		return recs, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, err
	}
	return recs, nil
}

func (s *Store) writeState(recs map[string]stateRecord) error {
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, stateTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, stateName)); err != nil {
		return err
	}
	if s.opts.NoSync {
		return nil
	}
	return syncDir(s.dir)
}
