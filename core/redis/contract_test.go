package redis

import (
	"testing"

	"legacyauth/core"
	"legacyauth/core/storetest"
)

// TestContract runs the shared core.EphemeralStore contract over Redis,
// each case on a fresh key prefix.
func TestContract(t *testing.T) {
	testURL(t)
	storetest.Ephemeral(t, func(t *testing.T) core.EphemeralStore { return openTest(t, Options{}) })
}
