package core_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// legacyHashes returns a hash of password in every legacy format, by format.
func legacyHashes(t testing.TB, password string) map[string]string {
	t.Helper()
	bc, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	mustOK(t, err)
	md := md5.Sum([]byte(password))
	s1 := sha1.Sum([]byte(password))
	salt := "NaCl$1"
	sp := sha256.Sum256([]byte(salt + password))
	ps := sha256.Sum256([]byte(password + salt))
	return map[string]string{
		core.FormatBcrypt:       string(bc),
		core.FormatMD5:          "$legacy$md5$" + hex.EncodeToString(md[:]),
		core.FormatSHA1:         "$legacy$sha1$" + hex.EncodeToString(s1[:]),
		core.FormatSHA256SaltPW: "$legacy$sha256-salt-pw$" + hex.EncodeToString([]byte(salt)) + "$" + hex.EncodeToString(sp[:]),
		core.FormatSHA256PWSalt: "$legacy$sha256-pw-salt$" + hex.EncodeToString([]byte(salt)) + "$" + hex.EncodeToString(ps[:]),
		core.FormatPlain:        "$legacy$plain$" + password,
	}
}

func TestLegacyHashes(t *testing.T) {
	const pw = "pässw0rd $ with spaces"
	for format, hash := range legacyHashes(t, pw) {
		t.Run(format, func(t *testing.T) {
			got, err := core.HashFormat(hash)
			if err != nil || got != format {
				t.Fatalf("HashFormat(%q) = %q, %v; want %q", hash, got, err, format)
			}
			mustOK(t, core.ValidateHash(hash))
			for _, tt := range []struct {
				password string
				want     bool
			}{
				{pw, true},
				{pw + "x", false},
				{pw[:len(pw)-1], false},
				{strings.ToUpper(pw), false},
				{"", false},
			} {
				ok, stale, err := core.VerifyPassword(tt.password, hash, testkit.FastHash)
				if err != nil || ok != tt.want || !stale {
					t.Errorf("VerifyPassword(%q) = ok %v, stale %v, %v; want ok %v, stale true", tt.password, ok, stale, err, tt.want)
				}
			}
		})
	}
}

// TestLegacyHashVectors checks hashes as other software wrote them.
func TestLegacyHashVectors(t *testing.T) {
	tests := []struct {
		name, hash, password string
	}{
		// PHP's password_verify documentation.
		{"PHPBcrypt2y", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a", "rasmuslerdorf"},
		{"MD5", "$legacy$md5$5f4dcc3b5aa765d61d8327deb882cf99", "password"},
		{"MD5Upper", "$legacy$md5$5F4DCC3B5AA765D61D8327DEB882CF99", "password"},
		{"SHA1", "$legacy$sha1$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "password"},
		// sha256("password") with an empty salt: plain sha256.
		{"SHA256NoSalt", "$legacy$sha256-salt-pw$$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "password"},
		{"SHA256NoSaltPWFirst", "$legacy$sha256-pw-salt$$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "password"},
		{"PlainWithDollars", "$legacy$plain$a$b$$c", "a$b$$c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, stale, err := core.VerifyPassword(tt.password, tt.hash, testkit.FastHash)
			if err != nil || !ok || !stale {
				t.Errorf("VerifyPassword = ok %v, stale %v, %v; want true, true, nil", ok, stale, err)
			}
		})
	}
}

func TestLegacyHashSaltOrder(t *testing.T) {
	h := legacyHashes(t, "pw")
	// Each order only matches its own digest.
	swapped := strings.Replace(h[core.FormatSHA256SaltPW], "sha256-salt-pw", "sha256-pw-salt", 1)
	if ok, _, err := core.VerifyPassword("pw", swapped, testkit.FastHash); err != nil || ok {
		t.Errorf("salt-then-password digest accepted as password-then-salt: ok %v, %v", ok, err)
	}
	swapped = strings.Replace(h[core.FormatSHA256PWSalt], "sha256-pw-salt", "sha256-salt-pw", 1)
	if ok, _, err := core.VerifyPassword("pw", swapped, testkit.FastHash); err != nil || ok {
		t.Errorf("password-then-salt digest accepted as salt-then-password: ok %v, %v", ok, err)
	}
}

// TestBcryptLongPassword: bcrypt reads 72 bytes; the old server accepted
// any password that shares them, and so does the gateway until the
// re-hash, which then keeps the whole password.
func TestBcryptLongPassword(t *testing.T) {
	long := strings.Repeat("p", 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	mustOK(t, err)
	for _, pw := range []string{long, long + "tail"} {
		if ok, _, err := core.VerifyPassword(pw, string(hash), testkit.FastHash); err != nil || !ok {
			t.Errorf("VerifyPassword(%d bytes) = %v, %v", len(pw), ok, err)
		}
	}
	if ok, _, _ := core.VerifyPassword(long[:71], string(hash), testkit.FastHash); ok {
		t.Errorf("a 71-byte prefix was accepted")
	}
}

func TestLegacyHashMalformed(t *testing.T) {
	h := legacyHashes(t, "pw")
	bc := h[core.FormatBcrypt]
	md := strings.TrimPrefix(h[core.FormatMD5], "$legacy$md5$")
	s1 := strings.TrimPrefix(h[core.FormatSHA1], "$legacy$sha1$")
	sp := strings.TrimPrefix(h[core.FormatSHA256SaltPW], "$legacy$sha256-salt-pw$")
	salt, digest, _ := strings.Cut(sp, "$")
	tests := []struct{ name, hash string }{
		{"Empty", ""},
		{"Dollar", "$"},
		{"LegacyOnly", "$legacy$"},
		{"UnknownLegacy", "$legacy$crc32$deadbeef"},
		{"UpperFormat", "$legacy$MD5$" + md},
		{"NoPrefix", md},
		{"BareSHA256", "$legacy$sha256$" + salt + "$" + digest},
		{"Bcrypt2x", "$2x$" + bc[4:]},
		{"Bcrypt2", "$2$" + bc[4:]},
		{"BcryptShort", bc[:59]},
		{"BcryptLong", bc + "a"},
		{"BcryptBadChar", bc[:40] + "!" + bc[41:]},
		{"BcryptBadCost", bc[:4] + "xx" + bc[6:]},
		{"BcryptCost3", bc[:4] + "03" + bc[6:]},
		{"BcryptCost16", bc[:4] + "16" + bc[6:]},
		{"BcryptCost31", bc[:4] + "31" + bc[6:]},
		{"BcryptNoDollar", bc[:6] + "x" + bc[7:]},
		{"MD5Short", "$legacy$md5$" + md[:31]},
		{"MD5Long", "$legacy$md5$" + md + "0"},
		{"MD5NotHex", "$legacy$md5$" + md[:31] + "g"},
		{"MD5Empty", "$legacy$md5$"},
		{"MD5AsSHA1", "$legacy$sha1$" + md},
		{"SHA1AsMD5", "$legacy$md5$" + s1},
		{"MD5Trailing", "$legacy$md5$" + md + "$"},
		{"SHA256NoSalt", "$legacy$sha256-salt-pw$" + digest},
		{"SHA256OddSalt", "$legacy$sha256-salt-pw$" + salt[1:] + "$" + digest},
		{"SHA256SaltNotHex", "$legacy$sha256-salt-pw$zz$" + digest},
		{"SHA256SaltTooLong", "$legacy$sha256-salt-pw$" + strings.Repeat("00", 129) + "$" + digest},
		{"SHA256ShortDigest", "$legacy$sha256-pw-salt$" + salt + "$" + digest[:62]},
		{"SHA256ExtraPart", "$legacy$sha256-pw-salt$" + salt + "$" + digest + "$00"},
		{"PlainEmpty", "$legacy$plain$"},
		{"PlainBadUTF8", "$legacy$plain$\xff"},
		{"PlainTooLong", "$legacy$plain$" + strings.Repeat("x", 257)},
		{"TooLong", "$legacy$plain$" + strings.Repeat("x", 600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f, err := core.HashFormat(tt.hash); err == nil {
				t.Errorf("HashFormat(%q) = %q, want an error", tt.hash, f)
			}
			if ok, _, err := core.VerifyPassword("pw", tt.hash, testkit.FastHash); err == nil || ok {
				t.Errorf("VerifyPassword(%q) = ok %v, err %v; want an error", tt.hash, ok, err)
			}
		})
	}
	// A cost of 15 is still accepted.
	mustOK(t, core.ValidateHash(bc[:4]+"15"+bc[6:]))
}

// TestLoginRehashesLegacy: every legacy format logs in with its password,
// refuses a wrong one without touching the hash, and is replaced by an
// argon2id hash at the first successful login; the password still works
// afterwards.
func TestLoginRehashesLegacy(t *testing.T) {
	ctx := context.Background()
	const pw = "old-server pw"
	h := newHarness(t)
	n := 0
	for format, hash := range legacyHashes(t, pw) {
		n++
		phone := phoneN(n)
		t.Run(format, func(t *testing.T) {
			_, err := h.svc.ImportUser(ctx, core.ImportRequest{Phone: phone, PasswordHash: hash, Profile: core.Profile{Name: "Ann"}})
			mustOK(t, err)
			if got := h.storedUser(t, phone).PasswordHash; got != hash {
				t.Fatalf("stored %q, want %q as imported", got, hash)
			}
			_, err = h.svc.Login(ctx, core.LoginRequest{Phone: phone, Password: pw + "!"})
			wantKind(t, err, core.WrongPassword)
			if got := h.storedUser(t, phone).PasswordHash; got != hash {
				t.Fatalf("a failed login changed the hash to %q", got)
			}
			res := h.login(t, phone, pw, "dev-1")
			after := h.storedUser(t, phone).PasswordHash
			if !strings.HasPrefix(after, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Fatalf("hash after the first login: %q", after)
			}
			if res.User.PasswordHash != after || res.User.Name != "Ann" {
				t.Errorf("Login returned %+v", res.User)
			}
			h.login(t, phone, pw, "dev-1")
			if again := h.storedUser(t, phone).PasswordHash; again != after {
				t.Errorf("the argon2id hash was replaced again")
			}
			_, err = h.svc.Login(ctx, core.LoginRequest{Phone: phone, Password: "wrong"})
			wantKind(t, err, core.WrongPassword)
		})
	}
}
