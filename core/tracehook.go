package core

import "context"

// traceHash starts a hashing step's trace (Config.TraceHash) and returns
// its end; a function that does nothing when no hook is set.
func (s *Service) traceHash(ctx context.Context, op string) (end func()) {
	if s.cfg.TraceHash == nil {
		return noTrace
	}
	return s.cfg.TraceHash(ctx, op)
}

func noTrace() {}
