package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"legacyauth/core"
	"legacyauth/core/memdb"
)

// lastSender keeps only the latest SMS per phone, so a long benchmark does
// not grow a slice of every message.
type lastSender struct {
	mu    sync.Mutex
	codes map[string]string
}

func (s *lastSender) Send(_ context.Context, m core.SMS) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[m.Phone] = m.Code
	return nil
}

// benchService is what production runs: DefaultHashParams (the zero Hash
// takes it), the real clock, a memdb store on disk.
func benchService(b *testing.B) *core.Service {
	b.Helper()
	store, err := memdb.Open(b.TempDir(), memdb.Options{})
	if err != nil {
		b.Fatalf("memdb.Open: %v", err)
	}
	b.Cleanup(func() { store.Close() })
	svc, err := core.New(store, store, core.Config{Secret: testSecret, Sender: &lastSender{codes: map[string]string{}}, Log: quietLog()})
	if err != nil {
		b.Fatalf("core.New: %v", err)
	}
	if svc.Config().Hash != core.DefaultHashParams {
		b.Fatalf("benchmarks must pay the default hash, got %+v", svc.Config().Hash)
	}
	return svc
}

func benchPhone(i int) string { return fmt.Sprintf("139%08d", i) }

// sendCodes sends a Register code to each of n phones and returns the codes.
func sendCodes(b *testing.B, svc *core.Service, n int) []string {
	b.Helper()
	codes := make([]string, n)
	for i := range codes {
		res, err := svc.SendCode(context.Background(), core.SendCodeRequest{Phone: benchPhone(i), Purpose: core.PurposeRegister})
		if err != nil {
			b.Fatal(err)
		}
		codes[i] = res.Code
	}
	return codes
}

// BenchmarkSendCode: a Register code, so it includes the registered check.
func BenchmarkSendCode(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.SendCode(ctx, core.SendCodeRequest{Phone: benchPhone(i % 10000), Purpose: core.PurposeRegister}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCode: a right code traded for a ticket.
func BenchmarkVerifyCode(b *testing.B) {
	svc := benchService(b)
	codes := sendCodes(b, svc, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.VerifyCode(ctx, core.VerifyCodeRequest{Phone: benchPhone(i), Purpose: core.PurposeRegister, Code: codes[i]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegister: one argon2id hash with DefaultHashParams and one
// durable write per op.
func BenchmarkRegister(b *testing.B) {
	svc := benchService(b)
	codes := sendCodes(b, svc, b.N)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := svc.Register(ctx, core.RegisterRequest{
			Phone: benchPhone(i), Password: "correct horse battery", Proof: core.Proof{Code: codes[i]}, DeviceID: "bench",
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin: one argon2id verification with DefaultHashParams and one
// durable write (the new session) per op.
func BenchmarkLogin(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	codes := sendCodes(b, svc, 1)
	if _, err := svc.Register(ctx, core.RegisterRequest{Phone: benchPhone(0), Password: "pw", Proof: core.Proof{Code: codes[0]}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.Login(ctx, core.LoginRequest{Phone: benchPhone(0), Password: "pw", DeviceID: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate: a token lookup plus its user.
func BenchmarkAuthenticate(b *testing.B) {
	svc := benchService(b)
	ctx := context.Background()
	codes := sendCodes(b, svc, 1)
	res, err := svc.Register(ctx, core.RegisterRequest{Phone: benchPhone(0), Password: "pw", Proof: core.Proof{Code: codes[0]}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := svc.Authenticate(ctx, res.Token); err != nil {
			b.Fatal(err)
		}
	}
}
