package postgres

import (
	"testing"

	"legacyauth/core"
	"legacyauth/core/storetest"
)

func TestUserBatch(t *testing.T) {
	testURL(t)
	storetest.UserBatch(t, func(t *testing.T) core.Store { return freshStore(t) })
}
