package limits_test

import (
	"testing"

	"legacyauth/core/limits"
	"legacyauth/core/limits/logtest"
)

// TestMemoryLog runs the Log conformance suite on MemoryLog.
func TestMemoryLog(t *testing.T) {
	logtest.Run(t, func(*testing.T) limits.Log { return limits.NewMemoryLog() })
}
