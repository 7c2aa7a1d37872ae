package metrics

import (
	"testing"
	"time"
)

func TestHashing(t *testing.T) {
	m := New(Options{})
	observe := m.Hashing()
	if got := value(t, m, "gateway_hash_shed_total"); got != 0 {
		t.Errorf("shed before any request = %v, want 0 (the series exists from the start)", got)
	}
	observe(0, false)
	observe(30*time.Millisecond, false)
	observe(time.Second, true)
	if got := value(t, m, "gateway_hash_wait_seconds"); got != 3 {
		t.Errorf("waits observed = %v, want 3 (shed ones included)", got)
	}
	if got := value(t, m, "gateway_hash_shed_total"); got != 1 {
		t.Errorf("shed = %v, want 1", got)
	}
}
