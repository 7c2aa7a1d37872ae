package migrate

import (
	"sync"
	"time"
)

// rateWindow bounds log lines per minute.
type rateWindow struct {
	mu    sync.Mutex
	start time.Time
	n     int
	max   int
}

func (w *rateWindow) allow(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.start) >= time.Minute {
		w.start, w.n = now, 0
	}
	if w.n >= w.max {
		return false
	}
	w.n++
	return true
}
