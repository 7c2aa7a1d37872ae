package memdb_test

import (
	"testing"

	"legacyauth/core"
	"legacyauth/core/memdb"
	"legacyauth/core/storetest"
)

func TestUserBatch(t *testing.T) {
	storetest.UserBatch(t, func(t *testing.T) core.Store {
		s, err := memdb.Open(t.TempDir(), memdb.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
