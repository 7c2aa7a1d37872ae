package core

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters. The defaults are OWASP's
// minimum (m=19 MiB, t=2, p=1); raising them makes old hashes re-hash on
// their next login.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// usable reports whether p are argon2id parameters to hash with:
// argon2.IDKey panics on a zero time or thread count, and the RFC 9106
// minimum is 8 KiB of memory per thread (IDKey would silently raise it).
func (p HashParams) usable() bool {
	return p.Time > 0 && p.Threads > 0 && p.MemoryKiB >= 8*uint32(p.Threads)
}

// DefaultHashParams is OWASP's recommended minimum for argon2id.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// HashPassword returns a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(password string, p HashParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the stored hash, and
// whether the hash should be replaced by a new argon2id one (so the caller
// should re-hash): an argon2id PHC string made with parameters other than
// want, or any legacy format (see legacyhash.go), which is always stale. A
// malformed hash, or one in no known format, is an error.
func VerifyPassword(password, phc string, want HashParams) (ok, stale bool, err error) {
	if !strings.HasPrefix(phc, "$argon2id$") {
		return verifyLegacy(password, phc, want)
	}
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, p != want, nil
}

func parsePHC(phc string) (p HashParams, salt, key []byte, err error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("not an argon2id PHC string")
	}
	var v int
	if _, err = fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err = fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if !p.usable() {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("bad salt: %w", err)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("bad key")
	}
	return p, salt, key, nil
}
