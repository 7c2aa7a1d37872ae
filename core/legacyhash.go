package core

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hashes imported from old servers. Each is kept in a
// self-describing string, so the format is known per user:
//
//	$2a$<cost>$<53 chars>               bcrypt ($2b$ and $2y$ too), cost 4-15
//	$legacy$md5$<32 hex>                md5(password)
//	$legacy$sha1$<40 hex>               sha1(password)
//	$legacy$sha256-salt-pw$<salt hex>$<64 hex>   sha256(salt ‖ password)
//	$legacy$sha256-pw-salt$<salt hex>$<64 hex>   sha256(password ‖ salt)
//	$legacy$discuz$<salt hex>$<32 hex>  md5(md5hex(password) ‖ salt), Discuz!/UCenter
//	$legacy$plain$<password>            the password itself
//
// and the hash strings of werkzeug, Django, passlib, sha-crypt and phpass
// as those libraries write them (legacyhash_kdf.go).
//
// Digests are hex (either case), as old servers usually kept them. A salt
// is the hex of the exact bytes the old server concatenated (for a text
// salt, its UTF-8 bytes), so any salt, "$" included, fits; it may be empty
// (plain sha256), and is at most 128 bytes. A plain password is everything
// after "$legacy$plain$".
//
// Every legacy hash is stale: the first successful login replaces it with
// an argon2id one (Service.Login), which is why weak formats (plain, md5,
// sha1) are acceptable for the time between the import and that login.
// Comparisons are constant-time.
const (
	FormatArgon2id     = "argon2id"
	FormatBcrypt       = "bcrypt"
	FormatMD5          = "md5"
	FormatSHA1         = "sha1"
	FormatSHA256SaltPW = "sha256-salt-pw"
	FormatSHA256PWSalt = "sha256-pw-salt"
	FormatDiscuz       = "discuz"
	FormatPlain        = "plain"

	legacyPrefix = "$legacy$"
	// MaxBcryptCost is the highest bcrypt cost accepted: each step doubles
	// a login's time, and 15 already takes seconds.
	MaxBcryptCost = 15
	maxSaltLen    = 128
	// maxHashLen bounds any stored hash string.
	maxHashLen = 512
	// bcryptMaxPassword is how much of a password bcrypt reads; old
	// servers (PHP, most libraries) silently ignored the rest.
	bcryptMaxPassword = 72
)

// LegacyFormats are the formats an import may name (hash_format), in the
// order help texts list them.
var LegacyFormats = []string{FormatArgon2id, FormatBcrypt, FormatMD5, FormatSHA1, FormatSHA256SaltPW, FormatSHA256PWSalt, FormatDiscuz,
	FormatWerkzeugPBKDF2, FormatWerkzeugScrypt, FormatDjangoPBKDF2, FormatPasslibPBKDF2, FormatSHA256Crypt, FormatSHA512Crypt, FormatPHPass, FormatPlain}

// saltedFormat reports the formats whose salt comes apart from the hash (salt
// or salt_hex in an import).
func saltedFormat(format string) bool {
	return format == FormatSHA256SaltPW || format == FormatSHA256PWSalt || format == FormatDiscuz
}

// LegacyPlain is the stored form of a plain password kept until the first
// login.
func LegacyPlain(password string) string { return legacyPrefix + FormatPlain + "$" + password }

// ComposeHash builds the stored hash of a digest an old server kept in
// format (any but plain): self-describing formats are the digest itself;
// md5 and sha1 get their $legacy$ prefix; the salted formats (sha256,
// discuz) take salt, the exact bytes the old server concatenated (nil when none was
// given: an error for them, as it is for the others to give one). The
// result is checked to parse as format.
func ComposeHash(format, digest string, salt []byte) (string, error) {
	salted := saltedFormat(format)
	if !salted && salt != nil {
		return "", fmt.Errorf("salt is only for %s, %s and %s", FormatSHA256SaltPW, FormatSHA256PWSalt, FormatDiscuz)
	}
	var h string
	switch format {
	case FormatArgon2id, FormatBcrypt, FormatWerkzeugPBKDF2, FormatWerkzeugScrypt, FormatDjangoPBKDF2,
		FormatPasslibPBKDF2, FormatSHA256Crypt, FormatSHA512Crypt, FormatPHPass:
		h = digest // self-describing already
	case FormatMD5, FormatSHA1:
		h = legacyPrefix + format + "$" + digest
	case FormatSHA256SaltPW, FormatSHA256PWSalt, FormatDiscuz:
		if salt == nil {
			return "", fmt.Errorf(`hash_format %s needs salt or salt_hex ("" for none)`, format)
		}
		h = legacyPrefix + format + "$" + hex.EncodeToString(salt) + "$" + digest
	default:
		return "", fmt.Errorf("unknown hash_format %q: want one of %s", format, strings.Join(LegacyFormats, ", "))
	}
	f, err := HashFormat(h)
	if err != nil {
		return "", err
	}
	if f != format {
		return "", fmt.Errorf("hash is %s, not %s", f, format)
	}
	return h, nil
}

// legacyHash is a parsed legacy hash.
type legacyHash struct {
	format string
	salt   []byte
	digest []byte // md5, sha1, sha256; the plain password for plain
	bcrypt []byte // the whole bcrypt string
	// derive, for the formats of legacyhash_kdf.go, computes from a
	// password what digest holds.
	derive func(password []byte) []byte
}

// HashFormat returns the format of a stored password hash (one of the
// Format constants), or an error when it is malformed or of no known format.
func HashFormat(hash string) (string, error) {
	if strings.HasPrefix(hash, "$argon2id$") {
		if _, _, _, err := parsePHC(hash); err != nil {
			return "", err
		}
		return FormatArgon2id, nil
	}
	h, err := parseLegacy(hash)
	if err != nil {
		return "", err
	}
	return h.format, nil
}

// ValidateHash reports whether hash is a well-formed password hash of a
// known format (argon2id PHC or a legacy one).
func ValidateHash(hash string) error {
	_, err := HashFormat(hash)
	return err
}

func parseLegacy(s string) (*legacyHash, error) {
	if len(s) > maxHashLen {
		return nil, fmt.Errorf("password hash longer than %d bytes", maxHashLen)
	}
	if isBcrypt(s) {
		return parseBcrypt(s)
	}
	if h, matched, err := parseKDF(s); matched {
		return h, err
	}
	rest, ok := strings.CutPrefix(s, legacyPrefix)
	if !ok {
		return nil, fmt.Errorf("unknown password hash format")
	}
	format, rest, _ := strings.Cut(rest, "$")
	switch format {
	case FormatPlain:
		if rest == "" || !utf8.ValidString(rest) || len(rest) > maxFieldLen {
			return nil, fmt.Errorf("bad plain password: empty, too long or not UTF-8")
		}
		return &legacyHash{format: format, digest: []byte(rest)}, nil
	case FormatMD5, FormatSHA1:
		size := md5.Size
		if format == FormatSHA1 {
			size = sha1.Size
		}
		d, err := decodeDigest(rest, size)
		if err != nil {
			return nil, fmt.Errorf("bad %s digest: %w", format, err)
		}
		return &legacyHash{format: format, digest: d}, nil
	case FormatSHA256SaltPW, FormatSHA256PWSalt, FormatDiscuz:
		saltHex, digestHex, ok := strings.Cut(rest, "$")
		if !ok {
			return nil, fmt.Errorf("bad %s hash: want <salt hex>$<digest hex>", format)
		}
		salt, err := hex.DecodeString(saltHex)
		if err != nil || len(salt) > maxSaltLen {
			return nil, fmt.Errorf("bad %s salt: want at most %d bytes in hex", format, maxSaltLen)
		}
		size := sha256.Size
		if format == FormatDiscuz {
			size = md5.Size
		}
		d, err := decodeDigest(digestHex, size)
		if err != nil {
			return nil, fmt.Errorf("bad %s digest: %w", format, err)
		}
		return &legacyHash{format: format, salt: salt, digest: d}, nil
	}
	return nil, fmt.Errorf("unknown legacy hash format %q", format)
}

func decodeDigest(s string, size int) ([]byte, error) {
	if len(s) != 2*size {
		return nil, fmt.Errorf("want %d hex digits, got %d characters", 2*size, len(s))
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not hex")
	}
	return d, nil
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// parseBcrypt checks the whole modular-crypt string, not just what
// x/crypto/bcrypt checks when parsing ($2x$<2-digit cost>$<22 salt><31
// hash>, in bcrypt's base64 alphabet), so a truncated or damaged hash is
// refused at import rather than at the user's login.
func parseBcrypt(s string) (*legacyHash, error) {
	if len(s) != 60 || s[6] != '$' {
		return nil, fmt.Errorf("bad bcrypt hash: want $2a$NN$ and 53 characters")
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || cost < bcrypt.MinCost || cost > MaxBcryptCost {
		return nil, fmt.Errorf("bad bcrypt cost %q: want %d to %d", s[4:6], bcrypt.MinCost, MaxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return nil, fmt.Errorf("bad bcrypt hash: character %q", c)
		}
	}
	// The last salt character carries 2 unused bits and the last hash
	// character 4: x/crypto/bcrypt decodes them leniently, so they need no check.
	if _, err := bcrypt.Cost([]byte(s)); err != nil {
		return nil, fmt.Errorf("bad bcrypt hash: %w", err)
	}
	return &legacyHash{format: FormatBcrypt, bcrypt: []byte(s)}, nil
}

// verifyLegacy checks password against a legacy hash. A legacy hash is
// always stale. It also spends one argon2id computation at the wanted
// parameters (when they are set), so that a login against a hash that is
// fast to check (md5, ...) takes as long as one against an argon2id hash
// or an unknown phone: timing does not tell which users are not migrated.
func verifyLegacy(password, stored string, want HashParams) (ok, stale bool, err error) {
	h, err := parseLegacy(stored)
	if err != nil {
		return false, false, err
	}
	ok = h.verify(password)
	if want.usable() {
		_ = argon2.IDKey([]byte(password), timingSalt[:], want.Time, want.MemoryKiB, want.Threads, keyLen)
	}
	return ok, true, nil
}

var timingSalt = sha256.Sum256([]byte("legacy hash timing pad"))

func (h *legacyHash) verify(password string) bool {
	if h.derive != nil {
		return subtle.ConstantTimeCompare(h.derive([]byte(password)), h.digest) == 1
	}
	switch h.format {
	case FormatBcrypt:
		pw := []byte(password)
		if len(pw) > bcryptMaxPassword {
			pw = pw[:bcryptMaxPassword]
		}
		return bcrypt.CompareHashAndPassword(h.bcrypt, pw) == nil // constant-time inside
	case FormatPlain:
		// Compare digests, so the time does not depend on where the texts
		// differ nor on their lengths.
		a, b := sha256.Sum256([]byte(password)), sha256.Sum256(h.digest)
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	case FormatMD5:
		d := md5.Sum([]byte(password))
		return subtle.ConstantTimeCompare(d[:], h.digest) == 1
	case FormatSHA1:
		d := sha1.Sum([]byte(password))
		return subtle.ConstantTimeCompare(d[:], h.digest) == 1
	case FormatSHA256SaltPW, FormatSHA256PWSalt:
		m := sha256.New()
		if h.format == FormatSHA256SaltPW {
			m.Write(h.salt)
			m.Write([]byte(password))
		} else {
			m.Write([]byte(password))
			m.Write(h.salt)
		}
		return subtle.ConstantTimeCompare(m.Sum(nil), h.digest) == 1
	case FormatDiscuz:
		// UCenter's md5(md5($password).$salt): the inner digest in
		// lowercase hex, as PHP's md5() returns it.
		inner := md5.Sum([]byte(password))
		m := md5.New()
		m.Write([]byte(hex.EncodeToString(inner[:])))
		m.Write(h.salt)
		return subtle.ConstantTimeCompare(m.Sum(nil), h.digest) == 1
	}
	return false
}
