package memdb

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

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

func benchCreate(b *testing.B, noSync bool) {
	o := testOpts(nil, nil)
	o.NoSync = noSync
	s := mustOpen(b, b.TempDir(), o)
	defer s.Close()
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := realisticUser(int(n.Add(1)))
			if err := s.CreateUser(ctx, u, session(u, u.ID, time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateUser measures a durable registration: one fsync each.
func BenchmarkCreateUser(b *testing.B) { benchCreate(b, false) }

// BenchmarkCreateUserNoSync measures everything but the fsync.
func BenchmarkCreateUserNoSync(b *testing.B) { benchCreate(b, true) }

func loaded(b *testing.B, n int) *Store {
	o := testOpts(nil, nil)
	o.NoSync = true
	s := mustOpen(b, b.TempDir(), o)
	for i := range n {
		u := realisticUser(i)
		if err := s.CreateUser(ctx, u, session(u, u.ID, time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkUserByPhone(b *testing.B) {
	s := loaded(b, 10_000)
	defer s.Close()
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

func BenchmarkSession(b *testing.B) {
	s := loaded(b, 10_000)
	defer s.Close()
	hashes := make([][32]byte, 10_000)
	for i := range hashes {
		hashes[i] = tokenHash(realisticUser(i).ID)
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

// prepared returns a directory holding a snapshot of n users (each with a
// session when withSessions) and an empty log, as after a restart.
func prepared(b *testing.B, n int, withSessions bool) (string, Options) {
	b.Helper()
	dir := b.TempDir()
	o := testOpts(nil, testkit.NewClock(t0))
	o.NoSync = true
	o.SnapshotRecords, o.SnapshotBytes = n, 1<<40
	s := mustOpen(b, dir, o)
	for i := range n {
		u := realisticUser(i)
		var sess *core.Session
		if withSessions {
			sess = session(u, u.ID, time.Hour)
		}
		if err := s.CreateUser(ctx, u, sess); err != nil {
			b.Fatal(err)
		}
	}
	waitCompaction(b, s)
	mustClose(b, s)
	return dir, o
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryPerUser loads 100k users from a snapshot, as at start-up,
// and reports the live heap per user, and how long the load took.
func BenchmarkMemoryPerUser(b *testing.B) {
	for _, withSessions := range []bool{false, true} {
		name := "users"
		if withSessions {
			name = "users+1session"
		}
		b.Run(name, func(b *testing.B) {
			const n = 100_000
			dir, o := prepared(b, n, withSessions)
			b.ResetTimer()
			for range b.N {
				before := heapAlloc()
				start := time.Now()
				s := mustOpen(b, dir, o)
				took := time.Since(start)
				after := heapAlloc()
				b.ReportMetric(float64(after-before)/n, "bytes/user")
				b.ReportMetric(float64(took.Microseconds())/n*1000, "ns-load/user")
				if _, err := s.UserByPhone(ctx, realisticUser(n-1).Phone); err != nil {
					b.Fatal(err)
				}
				mustClose(b, s)
			}
		})
	}
}
