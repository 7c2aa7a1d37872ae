package postgres

import (
	"context"
	"errors"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// LoadState returns the record stored under key and its version; nil and
// version 0 when there is none (gateway/migrate.StateStore).
func (s *Store) LoadState(ctx context.Context, key string) (value []byte, version int64, err error) {
	const op = "postgres.LoadState"
	err = s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		err := c.QueryRow(ctx, "SELECT value, version FROM state WHERE key = $1", key).Scan(&value, &version)
		if errors.Is(err, pgx.ErrNoRows) {
			value, version = nil, 0
			return nil
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return value, version, nil
}

// CompareAndSwapState stores value under key when the stored version is
// still version (0: no record yet), and reports whether it did; the new
// version is version+1. One statement: instances racing on a key see one
// swap succeed and the others report false.
func (s *Store) CompareAndSwapState(ctx context.Context, key string, version int64, value []byte) (bool, error) {
	const op = "postgres.CompareAndSwapState"
	if value == nil {
		return false, core.E(op, core.Invalid, "a state record needs a value")
	}
	var swapped bool
	err := s.withConn(ctx, op, func(ctx context.Context, c *pgx.Conn) error {
		var tag interface{ RowsAffected() int64 }
		var err error
		if version == 0 {
			tag, err = c.Exec(ctx, "INSERT INTO state (key, value, version) VALUES ($1, $2, 1) ON CONFLICT (key) DO NOTHING", key, value)
		} else {
			tag, err = c.Exec(ctx, "UPDATE state SET value = $2, version = version + 1, updated_at = now() WHERE key = $1 AND version = $3", key, value, version)
		}
		if err != nil {
			return err
		}
		swapped = tag.RowsAffected() == 1
		return nil
	})
	return swapped, err
}
