package redis

import (
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"legacyauth/core"
)

// BenchmarkPutCode stores codes for a rotating set of phones (one MULTI/EXEC
// round trip each).
func BenchmarkPutCode(b *testing.B) {
	s := openTest(b, Options{})
	c := &core.Code{Purpose: core.PurposeRegister, MAC: mac("code"), ExpiresAt: time.Now().Add(5 * time.Minute)}
	i := 0
	for b.Loop() {
		c.Phone = "+86138" + strconv.Itoa(10000000+i%1000)
		if err := s.PutCode(ctx, c); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheckCode checks codes: "wrong" is a counted mismatch (the
// script reads, compares two candidates and increments), "right" a match
// that deletes the code (after a PutCode, not timed), "parallel" wrong
// guesses from many goroutines on different phones.
func BenchmarkCheckCode(b *testing.B) {
	s := openTest(b, Options{})
	now := time.Now()
	code := &core.Code{Phone: "+8613800000050", MAC: mac("right"), ExpiresAt: now.Add(5 * time.Minute)}
	macs := [][32]byte{mac("wrong-register"), mac("wrong-any")}
	b.Run("wrong", func(b *testing.B) {
		if err := s.PutCode(ctx, code); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if got, err := s.CheckCode(ctx, code.Phone, macs, now, math.MaxInt32); err != nil || got != core.CodeMismatch {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("right", func(b *testing.B) {
		right := [][32]byte{mac("wrong"), mac("right")}
		for b.Loop() {
			b.StopTimer()
			if err := s.PutCode(ctx, code); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if got, err := s.CheckCode(ctx, code.Phone, right, now, 3); err != nil || got != core.CodeMatched {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		for i := range 64 {
			c := *code
			c.Phone = "+86139" + strconv.Itoa(10000000+i)
			if err := s.PutCode(ctx, &c); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			phone := "+86139" + strconv.Itoa(10000000+int(next.Add(1)%64))
			for pb.Next() {
				if got, err := s.CheckCode(ctx, phone, macs, now, math.MaxInt32); err != nil || got != core.CodeMismatch {
					b.Error(got, err)
					return
				}
			}
		})
	})
}
