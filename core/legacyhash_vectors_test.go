package core_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// legacyVector is one line of core/testdata/legacyhash/*.jsonl: a hash
// made by the old stack's own library (make-vectors.sh there says how).
type legacyVector struct {
	Format   string  `json:"format"`
	Password string  `json:"password"`
	Hash     string  `json:"hash"`
	Salt     *string `json:"salt"` // discuz
	By       string  `json:"by"`
	File     string  `json:"-"`
}

// stored is the vector's hash as the gateway keeps it.
func (v legacyVector) stored(t testing.TB) string {
	t.Helper()
	var salt []byte
	if v.Salt != nil {
		salt = []byte(*v.Salt)
	}
	h, err := core.ComposeHash(v.Format, v.Hash, salt)
	if err != nil {
		t.Fatalf("%s (%s): ComposeHash: %v", v.Format, v.By, err)
	}
	return h
}

func loadLegacyVectors(t testing.TB) []legacyVector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "legacyhash", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	var vs []legacyVector
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var v legacyVector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			v.File = filepath.Base(f)
			vs = append(vs, v)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// TestLegacyHashLibraryVectors: every hash made by a real library
// (werkzeug, Django, passlib, PHP) verifies with its password, is stale,
// and refuses wrong passwords and every one-character tampering.
func TestLegacyHashLibraryVectors(t *testing.T) {
	vs := loadLegacyVectors(t)
	seen := map[string]int{}
	for i, v := range vs {
		seen[v.Format]++
		t.Run(fmt.Sprintf("%s/%d", v.Format, i), func(t *testing.T) {
			t.Parallel()
			h := v.stored(t)
			if v.Salt == nil && h != v.Hash {
				t.Fatalf("a self-describing hash is stored as %q, not as the library wrote it", h)
			}
			if f, err := core.HashFormat(h); err != nil || f != v.Format {
				t.Fatalf("HashFormat = %q, %v; want %s (%s)", f, err, v.Format, v.By)
			}
			start := time.Now()
			ok, stale, err := core.VerifyPassword(v.Password, h, testkit.FastHash)
			took := time.Since(start)
			if err != nil || !ok || !stale {
				t.Fatalf("VerifyPassword = ok %v, stale %v, %v; want true, true (%s)", ok, stale, err, v.By)
			}
			if took > 20*time.Millisecond {
				// A hash at its library's default cost: it verifies; the
				// cheap vectors of the same library and format check wrong
				// passwords and tampering (seconds each under -race).
				return
			}
			wrong := []string{v.Password + "x", v.Password[:len(v.Password)-1], strings.ToUpper(v.Password), "", "password1"}
			for _, pw := range wrong {
				if pw == v.Password {
					continue
				}
				if ok, _, err := core.VerifyPassword(pw, h, testkit.FastHash); ok || err != nil {
					t.Errorf("wrong password %q: ok %v, %v (%s)", pw, ok, err, v.By)
				}
			}
			// Tamper one character at a time: every position for a quick
			// hash, the last few (the digest) for the others.
			from := 0
			if took > 3*time.Millisecond || testing.Short() {
				from = len(h) - 3
			}
			for pos := from; pos < len(h); pos++ {
				bad, changed := tamper(h, pos)
				if !changed {
					continue
				}
				if ok, _, _ := core.VerifyPassword(v.Password, bad, testkit.FastHash); ok {
					t.Errorf("tampered at %d (%q): accepted (%s)", pos, bad, v.By)
				}
			}
		})
	}
	for _, f := range []string{core.FormatWerkzeugPBKDF2, core.FormatWerkzeugScrypt, core.FormatDjangoPBKDF2, core.FormatPasslibPBKDF2,
		core.FormatSHA256Crypt, core.FormatSHA512Crypt, core.FormatPHPass, core.FormatDiscuz} {
		if seen[f] < 4 {
			t.Errorf("%s: %d vectors, want at least 4", f, seen[f])
		}
	}
}

// cheap reports whether v takes little time to verify (not one at its
// library's default cost).
func cheap(t testing.TB, v legacyVector) bool {
	start := time.Now()
	ok, _, err := core.VerifyPassword(v.Password, v.stored(t), core.HashParams{})
	return ok && err == nil && time.Since(start) < 20*time.Millisecond
}

// tamper replaces the character at pos with the next one of its kind
// (crypt's base-64 alphabet order, which holds digits and letters); other
// characters (separators) are left.
func tamper(s string, pos int) (string, bool) {
	const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	i := strings.IndexByte(alphabet, s[pos])
	if i < 0 {
		return s, false
	}
	return s[:pos] + string(alphabet[(i+1)%len(alphabet)]) + s[pos+1:], true
}

// TestLegacyHashBounds: a work factor above its bound (or below what the
// library writes) is refused, at the import (HashFormat) and at a login;
// at the bound it is accepted.
func TestLegacyHashBounds(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	hex128 := strings.Repeat("ab", 64)
	b64sha256 := "q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE="
	ab64sha256 := "q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE"
	sum43 := strings.Repeat("a", 43)
	sum22 := strings.Repeat("a", 22)
	for _, tt := range []struct {
		hash string
		ok   bool
	}{
		{fmt.Sprintf("pbkdf2:sha256:%d$salt$%s", core.MaxPBKDF2Iterations, hex64), true},
		{fmt.Sprintf("pbkdf2:sha256:%d$salt$%s", core.MaxPBKDF2Iterations+1, hex64), false},
		{"pbkdf2:sha256:0$salt$" + hex64, false},
		{"pbkdf2:sha256:99999999999$salt$" + hex64, false},
		{fmt.Sprintf("pbkdf2_sha256$%d$salt$%s", core.MaxPBKDF2Iterations, b64sha256), true},
		{fmt.Sprintf("pbkdf2_sha256$%d$salt$%s", core.MaxPBKDF2Iterations+1, b64sha256), false},
		{fmt.Sprintf("$pbkdf2-sha256$%d$c2FsdA$%s", core.MaxPBKDF2Iterations, ab64sha256), true},
		{fmt.Sprintf("$pbkdf2-sha256$%d$c2FsdA$%s", core.MaxPBKDF2Iterations+1, ab64sha256), false},
		{"scrypt:32768:8:1$salt$" + hex128, true},
		{"scrypt:65536:8:1$salt$" + hex128, true},    // 64 MiB, N·r·p 2^19
		{"scrypt:131072:8:1$salt$" + hex128, false},  // 128 MiB
		{"scrypt:16384:8:8$salt$" + hex128, true},    // N·r·p 2^20
		{"scrypt:16384:8:9$salt$" + hex128, false},   // N·r·p above 2^20
		{"scrypt:2097152:1:1$salt$" + hex128, false}, // N above 2^20
		{"scrypt:1000:8:1$salt$" + hex128, false},    // not a power of 2
		{"scrypt:1:8:1$salt$" + hex128, false},
		{fmt.Sprintf("$5$rounds=%d$salt$%s", core.MaxCryptRounds, sum43), true},
		{fmt.Sprintf("$5$rounds=%d$salt$%s", core.MaxCryptRounds+1, sum43), false},
		{fmt.Sprintf("$6$rounds=%d$salt$%s", core.MaxCryptRounds+1, strings.Repeat("a", 86)), false},
		{"$5$rounds=999$salt$" + sum43, false}, // crypt writes 1000 for less
		{"$5$rounds=01000$salt$" + sum43, false},
		{"$P$" + "H" + "12345678" + sum22, true},  // 2^19
		{"$P$" + "I" + "12345678" + sum22, true},  // 2^20
		{"$P$" + "J" + "12345678" + sum22, false}, // 2^21
		{"$H$" + "z" + "12345678" + sum22, false}, // 2^63
		{"$P$" + "4" + "12345678" + sum22, false}, // 2^6
		{"$P$" + "5" + "12345678" + sum22, true},  // 2^7
	} {
		_, err := core.HashFormat(tt.hash)
		if (err == nil) != tt.ok {
			t.Errorf("HashFormat(%q): %v; want ok %v", tt.hash, err, tt.ok)
		}
		if !tt.ok {
			if ok, _, err := core.VerifyPassword("pw", tt.hash, testkit.FastHash); ok || err == nil {
				t.Errorf("VerifyPassword(%q) = %v, %v; want an error", tt.hash, ok, err)
			}
		}
	}
}

// TestLegacyHashWorstCase measures a login against a hash at each bound,
// with the longest password: what one hostile import line can cost.
func TestLegacyHashWorstCase(t *testing.T) {
	if os.Getenv("LEGACYHASH_WORST_CASE") == "" {
		t.Skip("seconds of hashing (a minute under -race): set LEGACYHASH_WORST_CASE=1")
	}
	pw := strings.Repeat("p", 256)
	for _, h := range []string{
		fmt.Sprintf("pbkdf2:sha512:%d$salt$%s", core.MaxPBKDF2Iterations, strings.Repeat("ab", 64)),
		fmt.Sprintf("pbkdf2:sha1:%d$salt$%s", core.MaxPBKDF2Iterations, strings.Repeat("ab", 20)),
		"scrypt:16384:8:8$salt$" + strings.Repeat("ab", 64),
		"scrypt:65536:8:2$salt$" + strings.Repeat("ab", 64),
		fmt.Sprintf("$6$rounds=%d$salt$%s", core.MaxCryptRounds, strings.Repeat("a", 86)),
		fmt.Sprintf("$5$rounds=%d$salt$%s", core.MaxCryptRounds, strings.Repeat("a", 43)),
		"$P$I12345678" + strings.Repeat("a", 22),
	} {
		start := time.Now()
		ok, _, err := core.VerifyPassword(pw, h, core.HashParams{})
		took := time.Since(start)
		if ok || err != nil {
			t.Fatalf("%.20s...: ok %v, %v", h, ok, err)
		}
		t.Logf("%.24s...: %s", h, took.Round(time.Millisecond))
		if took > 10*time.Second {
			t.Errorf("%.24s...: %s for one login", h, took)
		}
	}
}

func TestLegacyHashNewFormatsMalformed(t *testing.T) {
	for _, h := range []string{
		"pbkdf2:sha256$salt$" + strings.Repeat("ab", 32),                             // no iterations
		"pbkdf2:md5:1000$salt$" + strings.Repeat("ab", 16),                           // unsupported hash
		"pbkdf2:sha256:1000$$" + strings.Repeat("ab", 32),                            // empty salt
		"pbkdf2:sha256:1000$salt$" + strings.Repeat("AB", 32),                        // upper-case hex never matched in werkzeug
		"pbkdf2:sha256:1000$salt$" + strings.Repeat("ab", 31),                        // short
		"pbkdf2:sha256:1000$salt$" + strings.Repeat("ab", 32) + "$",                  // extra part
		"pbkdf2:sha256:+1000$salt$" + strings.Repeat("ab", 32),                       // sign
		"pbkdf2:sha256:1000:1$salt$" + strings.Repeat("ab", 32),                      // extra argument
		"scrypt$salt$" + strings.Repeat("ab", 64),                                    // no parameters
		"scrypt:1024:8$salt$" + strings.Repeat("ab", 64),                             // missing p
		"scrypt:1024:8:1$salt$" + strings.Repeat("ab", 32),                           // short key
		"pbkdf2_sha256$1000$salt$q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE",        // no padding
		"pbkdf2_sha256$1000$salt$q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRF=",       // non-canonical
		"pbkdf2_sha256$1000$$q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE=",           // empty salt
		"pbkdf2_sha512$1000$salt$q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE=",       // not Django's
		"pbkdf2_sha1$1000$salt$q80UFmgvNWSH2zsfiMAo4SEsLhj/EbALWiYmxCpNrRE=",         // sha256's length
		"$pbkdf2-sha256$1000$c2FsdA$q80UFmgvNWSH2zsfiMAo4SEsLhj+EbALWiYmxCpNrRE",     // "+" is not ab64
		"$pbkdf2-sha256$1000$c2FsdA$q80UFmgvNWSH2zsfiMAo4SEsLhj.EbALWiYmxCpNrRE=",    // padding
		"$pbkdf2-sha384$1000$c2FsdA$q80UFmgvNWSH2zsfiMAo4SEsLhj.EbALWiYmxCpNrRE",     // unknown
		"$pbkdf2-sha256$1000$c2FsdA$q80UFmgvNWSH2zsfiMAo4SEsLhj.EbALWiYmxCpNr",       // short
		"$5$salt$" + strings.Repeat("a", 42),                                         // short
		"$5$salt$" + strings.Repeat("a", 42) + "!",                                   // not base-64
		"$5$salt$" + strings.Repeat("a", 86),                                         // $6$'s length
		"$5$saltsaltsaltsalt1$" + strings.Repeat("a", 43),                            // 17-character salt
		"$5$rounds=5000" + strings.Repeat("a", 43),                                   // no salt
		"$5$" + strings.Repeat("a", 43),                                              // no salt separator
		"$P$B1234567" + strings.Repeat("a", 22),                                      // short salt
		"$P$B12345678" + strings.Repeat("a", 21) + "!",                               // not base-64
		"$P$B12345678" + strings.Repeat("a", 23),                                     // long
		"$legacy$discuz$" + strings.Repeat("ab", 3) + "$" + strings.Repeat("ab", 15), // short
		"$legacy$discuz$" + strings.Repeat("ab", 16),                                 // no salt part
	} {
		if f, err := core.HashFormat(h); err == nil {
			t.Errorf("HashFormat(%q) = %q, want an error", h, f)
		}
		if ok, _, err := core.VerifyPassword("pw", h, testkit.FastHash); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", h, ok, err)
		}
	}
}

// TestLoginRehashesLibraryVectors: a hash of every format, made by its
// library, logs in and is replaced by argon2id at that first login.
func TestLoginRehashesLibraryVectors(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	done := map[string]bool{}
	n := 0
	for _, v := range loadLegacyVectors(t) {
		if done[v.Format] || !cheap(t, v) {
			continue // one cheap vector a format
		}
		done[v.Format] = true
		n++
		phone := phoneN(900 + n)
		_, err := h.svc.ImportUser(ctx, core.ImportRequest{Phone: phone, PasswordHash: v.stored(t)})
		mustOK(t, err)
		_, err = h.svc.Login(ctx, core.LoginRequest{Phone: phone, Password: v.Password + "!"})
		wantKind(t, err, core.WrongPassword)
		h.login(t, phone, v.Password, "dev-1")
		if after := h.storedUser(t, phone).PasswordHash; !strings.HasPrefix(after, "$argon2id$") {
			t.Errorf("%s: hash after the first login: %q", v.Format, after)
		}
		h.login(t, phone, v.Password, "dev-1")
	}
	if n != 8 {
		t.Errorf("%d formats logged in, want 8: %v", n, done)
	}
}
