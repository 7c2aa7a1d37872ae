package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
)

// auditStore keeps appended events in memory.
type auditStore struct {
	mu     sync.Mutex
	events []core.AuditEvent
}

func (s *auditStore) AppendAudit(_ context.Context, es []core.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, es...)
	return nil
}
func (s *auditStore) AuditEvents(context.Context, string, time.Time) ([]core.AuditEvent, error) {
	return nil, nil
}
func (s *auditStore) DeleteAuditBefore(context.Context, time.Time) (int, error) { return 0, nil }

// Events queued before Close are stored; an event a straggling handler
// sends during or after Close is dropped, never a panic.
func TestAuditLogCloseWithStragglers(t *testing.T) {
	st := &auditStore{}
	a := core.NewAuditLog(core.AuditLogOptions{Store: st})
	for range 100 {
		a.Audit(context.Background(), core.AuditEvent{Type: core.AuditLogin, Time: time.Now()})
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				a.Audit(context.Background(), core.AuditEvent{Type: core.AuditLogin, Time: time.Now()})
			}
		}()
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	a.Audit(context.Background(), core.AuditEvent{Type: core.AuditLogin, Time: time.Now()})
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.events) < 100 {
		t.Fatalf("%d events stored, want at least the 100 queued before Close", len(st.events))
	}
}
