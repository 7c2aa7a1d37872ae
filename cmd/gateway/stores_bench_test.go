package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// BenchmarkStores compares registrations/s and logins/s through the core
// on the embedded store and on PostgreSQL + Redis, in the same run, with
// production hash parameters and every core busy (b.RunParallel). The
// PostgreSQL half runs when GATEWAY_TEST_POSTGRES_URL and
// GATEWAY_TEST_REDIS_URL are set.
func BenchmarkStores(b *testing.B) {
	backends := [][]string{{"memdb"}}
	pgURL, redisURL := os.Getenv("GATEWAY_TEST_POSTGRES_URL"), os.Getenv("GATEWAY_TEST_REDIS_URL")
	if pgURL != "" && redisURL != "" {
		backends = append(backends, []string{"postgres"})
	} else {
		b.Log("set GATEWAY_TEST_POSTGRES_URL and GATEWAY_TEST_REDIS_URL to compare with PostgreSQL + Redis")
	}
	for _, be := range backends {
		b.Run(be[0], func(b *testing.B) {
			cfg, err := parseConfig([]string{"--data-dir", b.TempDir(), "--limits=off"}, func(string) string { return "" }, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			if be[0] == "postgres" {
				schema, prefix := isolate(b, pgURL, redisURL)
				cfg.Store, cfg.PostgresURL, cfg.PostgresSchema = "postgres", pgURL, schema
				cfg.RedisURL, cfg.RedisPrefix, cfg.Secret = redisURL, prefix, randomSecret()
			}
			sms := &testkit.SMSRecorder{}
			a, err := build(cfg, slog.New(slog.DiscardHandler), overrides{Sender: sms})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			svc := a.Service
			var next atomic.Int64
			phone := func() string { return fmt.Sprintf("1370%07d", next.Add(1)) }
			register := func(p string) error {
				if _, err := svc.SendCode(b.Context(), core.SendCodeRequest{Phone: p, Purpose: core.PurposeRegister}); err != nil {
					return err
				}
				_, err := svc.Register(b.Context(), core.RegisterRequest{Phone: p, Password: "abc12345", Proof: core.Proof{Code: sms.CodeFor(p)}})
				return err
			}
			b.Run("register", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := register(phone()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
			})
			b.Run("login", func(b *testing.B) {
				p := phone()
				if err := register(p); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := svc.Login(b.Context(), core.LoginRequest{Phone: p, Password: "abc12345"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
			})
		})
	}
}
