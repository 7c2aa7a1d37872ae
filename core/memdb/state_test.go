package memdb

import (
	"context"
	"testing"

	"legacyauth/core/storetest"
)

func TestStateContract(t *testing.T) {
	storetest.State(t, func(t *testing.T) storetest.StateStore {
		s, err := Open(t.TempDir(), Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// A swapped record survives a restart.
func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompareAndSwapState(ctx, "rollout", 0, []byte(`{"percent":5}`)); !ok || err != nil {
		t.Fatalf("swap: %v %v", ok, err)
	}
	s.Close()
	s, err = Open(dir, Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, ver, err := s.LoadState(ctx, "rollout")
	if err != nil || string(v) != `{"percent":5}` || ver != 1 {
		t.Fatalf("after reopening: %q %d %v", v, ver, err)
	}
}
