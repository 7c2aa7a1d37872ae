package core_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

func TestHashPassword(t *testing.T) {
	t.Run("DefaultFormat", func(t *testing.T) {
		phc, err := core.HashPassword("correct horse", core.DefaultHashParams)
		mustOK(t, err)
		// 16-byte salt and 32-byte key in unpadded standard base64.
		re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
		if !re.MatchString(phc) {
			t.Fatalf("PHC %q does not match %s", phc, re)
		}
		ok, stale, err := core.VerifyPassword("correct horse", phc, core.DefaultHashParams)
		if err != nil || !ok || stale {
			t.Errorf("VerifyPassword = %v, %v, %v; want true, false, nil", ok, stale, err)
		}
	})
	t.Run("Parameters", func(t *testing.T) {
		phc, err := core.HashPassword("pw", core.HashParams{MemoryKiB: 96, Time: 3, Threads: 2})
		mustOK(t, err)
		if !strings.HasPrefix(phc, "$argon2id$v=19$m=96,t=3,p=2$") {
			t.Errorf("PHC %q", phc)
		}
	})
	t.Run("Salted", func(t *testing.T) {
		a, b := mustHash(t, "same"), mustHash(t, "same")
		if a == b {
			t.Errorf("two hashes of one password are equal: %q", a)
		}
	})
}

func TestVerifyPassword(t *testing.T) {
	phc := mustHash(t, "pässword")
	tests := []struct {
		name      string
		password  string
		want      core.HashParams
		wantOK    bool
		wantStale bool
	}{
		{"Right", "pässword", testkit.FastHash, true, false},
		{"Wrong", "password", testkit.FastHash, false, false},
		{"Empty", "", testkit.FastHash, false, false},
		{"StaleMemory", "pässword", core.HashParams{MemoryKiB: 128, Time: 1, Threads: 1}, true, true},
		{"StaleTime", "pässword", core.HashParams{MemoryKiB: 64, Time: 2, Threads: 1}, true, true},
		{"StaleThreads", "pässword", core.HashParams{MemoryKiB: 64, Time: 1, Threads: 2}, true, true},
		{"StaleDefault", "pässword", core.DefaultHashParams, true, true},
		{"WrongAndStale", "nope", core.DefaultHashParams, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := core.VerifyPassword(tt.password, phc, tt.want)
			mustOK(t, err)
			if ok != tt.wantOK || stale != tt.wantStale {
				t.Errorf("ok=%v stale=%v, want ok=%v stale=%v", ok, stale, tt.wantOK, tt.wantStale)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good := mustHash(t, "pw") // $argon2id$v=19$m=64,t=1,p=1$salt$key
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	join := func(p ...string) string { return strings.Join(p, "$") }
	tests := []struct {
		name string
		phc  string
	}{
		{"Empty", ""},
		{"Plain", "pw"},
		{"Bcrypt2x", "$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}, // bcrypt is legacyhash_test.go's
		{"Argon2i", join("", "argon2i", "v=19", "m=64,t=1,p=1", salt, key)},
		{"OldVersion", join("", "argon2id", "v=16", "m=64,t=1,p=1", salt, key)},
		{"NoVersion", join("", "argon2id", "m=64,t=1,p=1", salt, key)},
		{"MissingKey", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt)},
		{"ExtraPart", good + "$x"},
		{"LeadingText", "x" + good},
		{"BadParams", join("", "argon2id", "v=19", "m=64;t=1;p=1", salt, key)},
		{"ZeroTime", join("", "argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"ZeroThreads", join("", "argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"TooLittleMemory", join("", "argon2id", "v=19", "m=15,t=1,p=2", salt, key)},
		{"BadSalt", join("", "argon2id", "v=19", "m=64,t=1,p=1", "!!!!", key)},
		{"BadKey", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, "!!!!")},
		{"ShortKey", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key[:20])},
		{"PaddedKey", join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key+"=")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, _, err := core.VerifyPassword("pw", tt.phc, testkit.FastHash)
			if err == nil || ok {
				t.Errorf("VerifyPassword(%q) = ok %v, err %v; want an error", tt.phc, ok, err)
			}
		})
	}
}

func TestLoginRehashesStale(t *testing.T) {
	h := newHarness(t)
	h.register(t, phoneN(1), "pw", "")
	before := h.storedUser(t, phoneN(1)).PasswordHash
	if !strings.HasPrefix(before, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("registered hash %q", before)
	}

	raised := core.HashParams{MemoryKiB: 128, Time: 2, Threads: 1}
	svc2 := h.service(t, func(c *core.Config) { c.Hash = raised })
	res, err := svc2.Login(context.Background(), core.LoginRequest{Phone: phoneN(1), Password: "pw"})
	mustOK(t, err)
	after := h.storedUser(t, phoneN(1)).PasswordHash
	if !strings.HasPrefix(after, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("hash after login with raised parameters: %q", after)
	}
	if res.User.PasswordHash != after {
		t.Errorf("Login returned hash %q, stored %q", res.User.PasswordHash, after)
	}
	ok, stale, err := core.VerifyPassword("pw", after, raised)
	if err != nil || !ok || stale {
		t.Errorf("new hash: ok=%v stale=%v err=%v", ok, stale, err)
	}

	// A hash with current parameters is left alone.
	_, err = svc2.Login(context.Background(), core.LoginRequest{Phone: phoneN(1), Password: "pw"})
	mustOK(t, err)
	if again := h.storedUser(t, phoneN(1)).PasswordHash; again != after {
		t.Errorf("a current hash was re-hashed")
	}
	// A wrong password never re-hashes.
	svc3 := h.service(t, func(c *core.Config) { c.Hash = testkit.FastHash })
	_, err = svc3.Login(context.Background(), core.LoginRequest{Phone: phoneN(1), Password: "wrong"})
	wantKind(t, err, core.WrongPassword)
	if again := h.storedUser(t, phoneN(1)).PasswordHash; again != after {
		t.Errorf("a failed login changed the hash")
	}
}

func TestRegisterDefaultHash(t *testing.T) {
	h := newHarness(t, func(c *core.Config) { c.Hash = core.HashParams{} })
	if got := h.svc.Config().Hash; got != core.DefaultHashParams {
		t.Fatalf("Hash = %+v, want %+v", got, core.DefaultHashParams)
	}
	h.register(t, phoneN(1), "pw", "")
	if phc := h.storedUser(t, phoneN(1)).PasswordHash; !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored hash %q", phc)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Run("CreatesOnce", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nested", "dir", "secret")
		first, err := core.LoadOrCreateSecret(path)
		mustOK(t, err)
		if len(first) != 32 {
			t.Fatalf("secret is %d bytes, want 32", len(first))
		}
		fi, err := os.Stat(path)
		mustOK(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		mustOK(t, err)
		if strings.TrimSpace(string(raw)) != hex.EncodeToString(first) {
			t.Errorf("file holds %q, want the hex of the secret", raw)
		}
		second, err := core.LoadOrCreateSecret(path)
		mustOK(t, err)
		if hex.EncodeToString(second) != hex.EncodeToString(first) {
			t.Errorf("second load differs from the first")
		}
		if raw2, _ := os.ReadFile(path); string(raw2) != string(raw) {
			t.Errorf("second load rewrote the file")
		}
		onlySecretFile(t, filepath.Dir(path))
	})

	t.Run("ReadsExisting", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "secret")
		want := strings.Repeat("ab", 40) // 40 bytes; longer than the minimum is fine
		mustOK(t, os.WriteFile(path, []byte("  "+want+"\n\n"), 0o600))
		got, err := core.LoadOrCreateSecret(path)
		mustOK(t, err)
		if hex.EncodeToString(got) != want {
			t.Errorf("got %x, want %s", got, want)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		tests := []struct {
			name    string
			content string
		}{
			{"Empty", ""},
			{"Short", strings.Repeat("ab", 31)},
			{"NotHex", strings.Repeat("zz", 32)},
			{"OddLength", strings.Repeat("a", 65)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "secret")
				mustOK(t, os.WriteFile(path, []byte(tt.content), 0o600))
				if s, err := core.LoadOrCreateSecret(path); err == nil {
					t.Errorf("accepted %q as secret %x", tt.content, s)
				}
				if raw, _ := os.ReadFile(path); string(raw) != tt.content {
					t.Errorf("the refused file was rewritten")
				}
			})
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Processes starting together must all end up with the one secret
		// written, never with an error from reading a half-written file.
		for round := range 20 {
			path := filepath.Join(t.TempDir(), "secret")
			const n = 8
			secrets := make([]string, n)
			errs := make([]error, n)
			testkit.Together(n, func(i int) {
				s, err := core.LoadOrCreateSecret(path)
				secrets[i], errs[i] = hex.EncodeToString(s), err
			})
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("round %d, caller %d: %v", round, i, errs[i])
				}
				if secrets[i] != secrets[0] {
					t.Fatalf("round %d: callers got different secrets", round)
				}
			}
			onlySecretFile(t, filepath.Dir(path))
		}
	})
}

// onlySecretFile checks that creating the secret left no temporary file.
func onlySecretFile(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	mustOK(t, err)
	if len(ents) != 1 || ents[0].Name() != "secret" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the secret", names)
	}
}
