package postgres

import (
	"testing"

	"legacyauth/core/storetest"
)

func TestStateContract(t *testing.T) {
	storetest.State(t, func(t *testing.T) storetest.StateStore { return freshStore(t) })
}
