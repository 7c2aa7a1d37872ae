package postgres

import (
	"context"
	"strconv"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// sweepBatch bounds the rows one DELETE removes, so that a sweep after a
// long pause neither holds locks for long nor exceeds OpTimeout.
const sweepBatch = 1000

// sweepTables are the tables with an expires_at column; each has an index
// on it.
var sweepTables = [...]string{"codes", "tickets", "flows", "sessions"}

// sweep deletes every row expired at now, a batch per statement. Every
// instance may sweep: the deletions are idempotent, and reads ignore
// expired rows anyway. It returns how many rows it deleted.
func (s *Store) sweep(ctx context.Context, now time.Time) (int64, error) {
	const op = "postgres.sweep"
	var total int64
	for _, table := range sweepTables {
		q := "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table +
			" WHERE expires_at <= $1 LIMIT " + strconv.Itoa(sweepBatch) + "))"
		for {
			var n int64
			err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
				tag, err := c.Exec(ctx, q, now)
				n = tag.RowsAffected()
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if n < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

// sweeper sweeps every interval until Close, and closes connections idle
// for long.
func (s *Store) sweeper(every time.Duration) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // Close interrupts a running sweep
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			n, err := s.sweep(ctx, s.opts.Now())
			switch {
			case err != nil && core.KindOf(err) != core.Unavailable:
				s.log.Error("postgres: sweeping expired rows", "err", err)
			case err != nil:
				s.log.Warn("postgres: sweeping expired rows", "err", err)
			case n > 0:
				s.log.Debug("postgres: swept expired rows", "rows", n)
			}
			s.sweepAvatars(ctx)
		}
	}
}

// sweepAvatars deletes the uploads unused for AvatarGrace. Each pass is
// cheap (only uploads not yet found in use are looked at, by index), so it
// runs on every tick, on every instance.
func (s *Store) sweepAvatars(ctx context.Context) {
	if s.opts.AvatarGrace < 0 {
		return
	}
	n, err := s.DeleteUnusedAvatars(ctx, s.opts.Now().Add(-s.opts.AvatarGrace))
	switch {
	case err != nil && core.KindOf(err) != core.Unavailable:
		s.log.Error("postgres: deleting unused avatars", "err", err)
	case err != nil:
		s.log.Warn("postgres: deleting unused avatars", "err", err)
	case n > 0:
		s.log.Info("postgres: deleted unused avatars", "avatars", n, "grace", s.opts.AvatarGrace)
	}
}
