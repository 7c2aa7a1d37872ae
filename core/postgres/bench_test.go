package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"

	"github.com/jackc/pgx/v5"
)

// The benchmarks mirror core/memdb's (same users, same parallelism), so
// that `make bench` compares the two stores. They need the test server
// (GATEWAY_TEST_POSTGRES_URL) and skip without it.

// realisticUser has field sizes like production: a 97-byte argon2id PHC
// string, a UUID device id, a short name and an avatar path.
func realisticUser(i int) *core.User {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	h := sha256.Sum256(b[:])
	return &core.User{
		ID:           fmt.Sprintf("%x", h[:16]),
		Phone:        fmt.Sprintf("+861%010d", i),
		PasswordHash: fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$%022x$%043x", h[:8], h[8:]),
		Profile:      core.Profile{Name: "Zhang Wei", Nickname: "zw", Gender: "1", Avatar: fmt.Sprintf("/avatars/%x.png", h[16:])},
		DeviceID:     fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]),
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func benchSession(u *core.User) *core.Session {
	return &core.Session{TokenHash: sha256.Sum256([]byte(u.ID)), UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

// BenchmarkCreateUser measures a durable registration: a user and its
// session in one transaction.
func BenchmarkCreateUser(b *testing.B) {
	s := freshStore(b)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := realisticUser(int(n.Add(1)))
			if err := s.CreateUser(ctx, u, benchSession(u)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// loaded returns a store holding n users, each with a session, loaded with
// COPY (as CreateUser would store them).
func loaded(b *testing.B, n int) *Store {
	s := freshStore(b)
	users := make([][]any, n)
	sessions := make([][]any, n)
	for i := range n {
		u := realisticUser(i)
		users[i] = []any{u.ID, u.Phone, u.PasswordHash, u.Name, u.Nickname, u.Gender, u.Avatar, u.DeviceID, u.CreatedAt, u.UpdatedAt}
		ss := benchSession(u)
		sessions[i] = []any{ss.TokenHash[:], ss.UserID, ss.CreatedAt, ss.ExpiresAt}
	}
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, cerr := s.pool.Acquire(c)
	if cerr != nil {
		b.Fatal(cerr)
	}
	defer conn.Release()
	if _, err := conn.CopyFrom(c, pgx.Identifier{"users"}, []string{"id", "phone", "password_hash", "name", "nickname", "gender", "avatar", "device_id", "created_at", "updated_at"}, pgx.CopyFromRows(users)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.CopyFrom(c, pgx.Identifier{"sessions"}, []string{"token_hash", "user_id", "created_at", "expires_at"}, pgx.CopyFromRows(sessions)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(c, "ANALYZE users; ANALYZE sessions"); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkUserByPhone(b *testing.B) {
	s := loaded(b, 10_000)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.UserByPhone(ctx, fmt.Sprintf("+861%010d", i%10_000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkSession measures the lookup behind every authenticated request.
func BenchmarkSession(b *testing.B) {
	s := loaded(b, 10_000)
	hashes := make([][32]byte, 10_000)
	for i := range hashes {
		hashes[i] = benchSession(realisticUser(i)).TokenHash
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, _, err := s.Session(ctx, hashes[i%len(hashes)], t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
