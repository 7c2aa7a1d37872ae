package postgres

import (
	"testing"

	"legacyauth/core"
	"legacyauth/core/storetest"
)

// The operators' methods and the audit store, over PostgreSQL.
func TestAdminContract(t *testing.T) {
	testURL(t)
	storetest.Admin(t, func(t *testing.T) core.Store { return freshStore(t) })
	storetest.EphemeralAdmin(t, func(t *testing.T) core.EphemeralStore { return freshStore(t) })
	storetest.Audit(t, func(t *testing.T) core.AuditStore { return freshStore(t) })
}
