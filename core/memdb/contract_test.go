package memdb_test

import (
	"testing"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/core/storetest"
)

// The contract every store implements (see core/storetest), over memdb.
func TestContract(t *testing.T) {
	open := func(t *testing.T) *memdb.Store {
		s, err := memdb.Open(t.TempDir(), memdb.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("Store", func(t *testing.T) {
		storetest.Store(t, func(t *testing.T) core.Store { return open(t) })
	})
	t.Run("Ephemeral", func(t *testing.T) {
		storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { return open(t) })
	})
}
