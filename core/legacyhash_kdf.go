package core

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// The hash strings of the old servers' stacks, stored as the old server
// wrote them (they describe themselves). docs/migration.md lists them
// with an example each.
//
//	pbkdf2:<sha1|sha256|sha512>:<N>$<salt>$<hex>   werkzeug
//	scrypt:<N>:<r>:<p>$<salt>$<hex>                 werkzeug 3
//	pbkdf2_<sha256|sha1>$<N>$<salt>$<base64>        Django
//	$pbkdf2[-sha256|-sha512]$<N>$<ab64 salt>$<ab64> passlib
//	$5$[rounds=<N>$]<salt>$<43 chars>               sha256-crypt
//	$6$[rounds=<N>$]<salt>$<86 chars>               sha512-crypt
//	$P$<log2 count><8 salt><22 chars>               phpass ($H$ for phpBB)
//
// The work factor of each is bounded (the Max constants): an import may
// come from a hostile or broken dump, and a hash with a huge work factor
// would make every login against it take minutes. A hash above its bound
// is refused at the import, and at a login.
const (
	FormatWerkzeugPBKDF2 = "werkzeug-pbkdf2"
	FormatWerkzeugScrypt = "werkzeug-scrypt"
	FormatDjangoPBKDF2   = "django-pbkdf2"
	FormatPasslibPBKDF2  = "passlib-pbkdf2"
	FormatSHA256Crypt    = "sha256-crypt"
	FormatSHA512Crypt    = "sha512-crypt"
	FormatPHPass         = "phpass"

	// MaxPBKDF2Iterations bounds werkzeug's, Django's and passlib's PBKDF2
	// iterations: Django 5.2 and werkzeug 3.1 default to 1,000,000, and
	// Django raises its default by about a fifth a release.
	MaxPBKDF2Iterations = 2_000_000
	// MaxScryptN, MaxScryptMemory and MaxScryptWork bound werkzeug's
	// scrypt (default N=32768, r=8, p=1: 32 MiB, N·r·p = 2^18): memory
	// 128·N·r bytes at most 64 MiB, and N·r·p at most 2^20.
	MaxScryptN      = 1 << 20
	MaxScryptMemory = 64 << 20
	MaxScryptWork   = 1 << 20
	// MaxCryptRounds bounds sha-crypt's rounds (the spec allows 1,000 to
	// 999,999,999; passlib's defaults are 535,000 and 656,000).
	MinCryptRounds = 1000
	MaxCryptRounds = 1_000_000
	// MaxPHPassLog2 bounds phpass's iteration count, 2^log2 (phpass
	// allows 7 to 30; WordPress writes 13, phpBB 11, passlib 19).
	MinPHPassLog2 = 7
	MaxPHPassLog2 = 20
)

// cryptAlphabet is crypt(3)'s base-64 alphabet (sha-crypt, phpass).
const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// parseKDF parses the self-describing hash strings above. matched is
// false when s is none of them (by its prefix).
func parseKDF(s string) (h *legacyHash, matched bool, err error) {
	switch {
	case strings.HasPrefix(s, "pbkdf2:"):
		h, err = parseWerkzeugPBKDF2(s)
	case strings.HasPrefix(s, "scrypt:"):
		h, err = parseWerkzeugScrypt(s)
	case strings.HasPrefix(s, "pbkdf2_sha256$"), strings.HasPrefix(s, "pbkdf2_sha1$"):
		h, err = parseDjangoPBKDF2(s)
	case strings.HasPrefix(s, "$pbkdf2$"), strings.HasPrefix(s, "$pbkdf2-sha256$"), strings.HasPrefix(s, "$pbkdf2-sha512$"):
		h, err = parsePasslibPBKDF2(s)
	case strings.HasPrefix(s, "$5$"), strings.HasPrefix(s, "$6$"):
		h, err = parseSHACrypt(s)
	case strings.HasPrefix(s, "$P$"), strings.HasPrefix(s, "$H$"):
		h, err = parsePHPass(s)
	default:
		return nil, false, nil
	}
	return h, true, err
}

// hashByName is the digests the PBKDF2 formats name.
func hashByName(name string) (func() hash.Hash, bool) {
	switch name {
	case "sha1":
		return sha1.New, true
	case "sha256":
		return sha256.New, true
	case "sha512":
		return sha512.New, true
	}
	return nil, false
}

// parseCount parses a work factor written in decimal the way the old
// libraries write it: digits only, no sign, no leading zero.
func parseCount(s string, lo, hi int) (int, bool) {
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= lo && n <= hi
}

// textSalt checks a salt the old library kept as text and used as its
// UTF-8 bytes (werkzeug, Django).
func textSalt(s string) ([]byte, bool) {
	return []byte(s), s != "" && len(s) <= maxSaltLen && utf8.ValidString(s) && !strings.ContainsAny(s, "$")
}

// decodeLowerHex decodes the hex werkzeug writes (Python's bytes.hex():
// lowercase); werkzeug compares the text, so upper case never matched.
func decodeLowerHex(s string, size int) ([]byte, bool) {
	if len(s) != 2*size || strings.ToLower(s) != s {
		return nil, false
	}
	d, err := hex.DecodeString(s)
	return d, err == nil
}

func pbkdf2Derive(newHash func() hash.Hash, salt []byte, iter, size int) func([]byte) []byte {
	return func(pw []byte) []byte { return pbkdf2.Key(pw, salt, iter, size, newHash) }
}

// parseWerkzeugPBKDF2: werkzeug's generate_password_hash with
// "pbkdf2:<hash>[:<N>]" writes pbkdf2:<hash>:<N>$<salt>$<hex of
// hashlib.pbkdf2_hmac(hash, password, salt, N)>, the key as long as the
// digest. (werkzeug reads a missing N as its version's default, which
// differs between versions; it always writes N, so one is required.)
func parseWerkzeugPBKDF2(s string) (*legacyHash, error) {
	bad := func(what string) error { return fmt.Errorf("bad werkzeug pbkdf2 hash: %s", what) }
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return nil, bad("want pbkdf2:<hash>:<iterations>$<salt>$<hex>")
	}
	method := strings.Split(parts[0], ":")
	if len(method) != 3 {
		return nil, bad("want pbkdf2:<hash>:<iterations>")
	}
	newHash, ok := hashByName(method[1])
	if !ok {
		return nil, bad("the hash must be sha1, sha256 or sha512")
	}
	iter, ok := parseCount(method[2], 1, MaxPBKDF2Iterations)
	if !ok {
		return nil, bad(fmt.Sprintf("iterations must be 1 to %d", MaxPBKDF2Iterations))
	}
	salt, ok := textSalt(parts[1])
	if !ok {
		return nil, bad(fmt.Sprintf("the salt must be 1 to %d bytes of UTF-8", maxSaltLen))
	}
	size := newHash().Size()
	d, ok := decodeLowerHex(parts[2], size)
	if !ok {
		return nil, bad(fmt.Sprintf("want %d lowercase hex digits", 2*size))
	}
	return &legacyHash{format: FormatWerkzeugPBKDF2, digest: d, derive: pbkdf2Derive(newHash, salt, iter, size)}, nil
}

// werkzeugScryptKeyLen is hashlib.scrypt's default key length, which
// werkzeug 3 uses.
const werkzeugScryptKeyLen = 64

// parseWerkzeugScrypt: werkzeug 3's generate_password_hash with
// "scrypt[:N:r:p]" writes scrypt:<N>:<r>:<p>$<salt>$<hex of
// hashlib.scrypt(password, salt=salt, n=N, r=r, p=p)> (64 bytes).
func parseWerkzeugScrypt(s string) (*legacyHash, error) {
	bad := func(what string) error { return fmt.Errorf("bad werkzeug scrypt hash: %s", what) }
	parts := strings.Split(s, "$")
	if len(parts) != 3 {
		return nil, bad("want scrypt:<N>:<r>:<p>$<salt>$<hex>")
	}
	method := strings.Split(parts[0], ":")
	if len(method) != 4 {
		return nil, bad("want scrypt:<N>:<r>:<p>")
	}
	n, okN := parseCount(method[1], 2, MaxScryptN)
	r, okR := parseCount(method[2], 1, MaxScryptWork)
	p, okP := parseCount(method[3], 1, MaxScryptWork)
	if !okN || !okR || !okP || n&(n-1) != 0 {
		return nil, bad(fmt.Sprintf("N must be a power of 2 up to %d, r and p at least 1", MaxScryptN))
	}
	if 128*n*r > MaxScryptMemory || n*r*p > MaxScryptWork {
		return nil, bad(fmt.Sprintf("128·N·r must be at most %d bytes and N·r·p at most %d", MaxScryptMemory, MaxScryptWork))
	}
	salt, ok := textSalt(parts[1])
	if !ok {
		return nil, bad(fmt.Sprintf("the salt must be 1 to %d bytes of UTF-8", maxSaltLen))
	}
	d, ok := decodeLowerHex(parts[2], werkzeugScryptKeyLen)
	if !ok {
		return nil, bad(fmt.Sprintf("want %d lowercase hex digits", 2*werkzeugScryptKeyLen))
	}
	derive := func(pw []byte) []byte {
		k, err := scrypt.Key(pw, salt, n, r, p, werkzeugScryptKeyLen)
		if err != nil { // the parameters were checked: cannot happen
			return nil
		}
		return k
	}
	return &legacyHash{format: FormatWerkzeugScrypt, digest: d, derive: derive}, nil
}

// parseDjangoPBKDF2: Django's PBKDF2PasswordHasher (and
// PBKDF2SHA1PasswordHasher) writes pbkdf2_sha256$<N>$<salt>$<base64 of
// pbkdf2_hmac(sha256, password, salt, N)>, standard base64 with padding.
func parseDjangoPBKDF2(s string) (*legacyHash, error) {
	bad := func(what string) error { return fmt.Errorf("bad Django pbkdf2 hash: %s", what) }
	parts := strings.Split(s, "$")
	if len(parts) != 4 {
		return nil, bad("want pbkdf2_<hash>$<iterations>$<salt>$<base64>")
	}
	newHash, _ := hashByName(strings.TrimPrefix(parts[0], "pbkdf2_")) // sha256 or sha1: parseKDF checked
	iter, ok := parseCount(parts[1], 1, MaxPBKDF2Iterations)
	if !ok {
		return nil, bad(fmt.Sprintf("iterations must be 1 to %d", MaxPBKDF2Iterations))
	}
	salt, ok := textSalt(parts[2])
	if !ok {
		return nil, bad(fmt.Sprintf("the salt must be 1 to %d bytes of UTF-8", maxSaltLen))
	}
	size := newHash().Size()
	d, err := base64.StdEncoding.Strict().DecodeString(parts[3])
	if err != nil || len(d) != size {
		return nil, bad(fmt.Sprintf("want the base64 of %d bytes", size))
	}
	return &legacyHash{format: FormatDjangoPBKDF2, digest: d, derive: pbkdf2Derive(newHash, salt, iter, size)}, nil
}

// ab64Decode decodes passlib's "adapted base64": standard base64 with "."
// for "+" and no padding.
func ab64Decode(s string) ([]byte, error) {
	if strings.ContainsAny(s, "+=") {
		return nil, fmt.Errorf("not ab64")
	}
	return base64.RawStdEncoding.Strict().DecodeString(strings.ReplaceAll(s, ".", "+"))
}

// parsePasslibPBKDF2: passlib's pbkdf2_sha1, pbkdf2_sha256 and
// pbkdf2_sha512 write $pbkdf2[-sha256|-sha512]$<N>$<ab64 salt>$<ab64 key>,
// the salt raw bytes and the key as long as the digest.
func parsePasslibPBKDF2(s string) (*legacyHash, error) {
	bad := func(what string) error { return fmt.Errorf("bad passlib pbkdf2 hash: %s", what) }
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, bad("want $pbkdf2-<hash>$<rounds>$<salt>$<checksum>")
	}
	name := strings.TrimPrefix(strings.TrimPrefix(parts[1], "pbkdf2"), "-")
	if name == "" {
		name = "sha1"
	}
	newHash, _ := hashByName(name) // parseKDF checked the prefix
	iter, ok := parseCount(parts[2], 1, MaxPBKDF2Iterations)
	if !ok {
		return nil, bad(fmt.Sprintf("rounds must be 1 to %d", MaxPBKDF2Iterations))
	}
	salt, err := ab64Decode(parts[3])
	if err != nil || len(salt) > maxSaltLen {
		return nil, bad(fmt.Sprintf("the salt must be ab64 of at most %d bytes", maxSaltLen))
	}
	size := newHash().Size()
	d, err := ab64Decode(parts[4])
	if err != nil || len(d) != size {
		return nil, bad(fmt.Sprintf("want the ab64 of %d bytes", size))
	}
	return &legacyHash{format: FormatPasslibPBKDF2, digest: d, derive: pbkdf2Derive(newHash, salt, iter, size)}, nil
}

func inCryptAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(cryptAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// parseSHACrypt: $5$ and $6$ as glibc's crypt(3), PHP's crypt() and
// passlib write them. Rounds default to 5000 when not written; a salt is
// at most 16 characters (longer ones are cut by crypt, so it never
// writes one).
func parseSHACrypt(s string) (*legacyHash, error) {
	format, newHash, sumLen := FormatSHA256Crypt, sha256.New, 43
	if s[1] == '6' {
		format, newHash, sumLen = FormatSHA512Crypt, sha512.New, 86
	}
	bad := func(what string) error { return fmt.Errorf("bad %s hash: %s", format, what) }
	rest := s[3:]
	rounds := 5000
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, tail, _ := strings.Cut(r, "$")
		var okN bool
		if rounds, okN = parseCount(n, MinCryptRounds, MaxCryptRounds); !okN {
			return nil, bad(fmt.Sprintf("rounds must be %d to %d", MinCryptRounds, MaxCryptRounds))
		}
		rest = tail
	}
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || len(salt) > 16 || strings.ContainsAny(salt, "$:\n") {
		return nil, bad("want [rounds=N$]<salt of at most 16 characters>$<hash>")
	}
	if len(sum) != sumLen || !inCryptAlphabet(sum) {
		return nil, bad(fmt.Sprintf("want %d characters of crypt's base-64", sumLen))
	}
	derive := func(pw []byte) []byte { return shaCrypt(newHash, pw, []byte(salt), rounds) }
	return &legacyHash{format: format, digest: []byte(sum), derive: derive}, nil
}

// parsePHPass: phpass's portable hashes ($P$, and $H$ as phpBB 3 writes
// them): $P$, one character for log2 of the count, 8 of salt, 22 of hash.
func parsePHPass(s string) (*legacyHash, error) {
	bad := func(what string) error { return fmt.Errorf("bad phpass hash: %s", what) }
	if len(s) != 34 || !inCryptAlphabet(s[3:]) {
		return nil, bad("want $P$ and 31 characters of crypt's base-64")
	}
	log2 := strings.IndexByte(cryptAlphabet, s[3])
	if log2 < MinPHPassLog2 || log2 > MaxPHPassLog2 {
		return nil, bad(fmt.Sprintf("the count must be 2^%d to 2^%d", MinPHPassLog2, MaxPHPassLog2))
	}
	salt := []byte(s[4:12])
	derive := func(pw []byte) []byte { return phpassHash(pw, salt, 1<<log2) }
	return &legacyHash{format: FormatPHPass, digest: []byte(s[12:]), derive: derive}, nil
}

// phpassHash is phpass's crypt_private (the portable hash), from phpass
// 0.3's published algorithm (openwall.com/phpass), which passlib's phpass
// handler implements too: x = md5(salt ‖ password), count times
// x = md5(x ‖ password), and x in phpass's encode64. No maintained Go
// module implements it; core/testdata/legacyhash holds vectors made by
// passlib.
func phpassHash(pw, salt []byte, count int) []byte {
	m := md5.New()
	m.Write(salt)
	m.Write(pw)
	x := m.Sum(nil)
	for range count {
		m.Reset()
		m.Write(x)
		m.Write(pw)
		x = m.Sum(x[:0])
	}
	// encode64: 3 bytes at a time, least significant first.
	out := make([]byte, 0, 22)
	for i := 0; i < len(x); i += 3 {
		v, n := uint(x[i]), 2
		if i+1 < len(x) {
			v |= uint(x[i+1]) << 8
			n = 3
		}
		if i+2 < len(x) {
			v |= uint(x[i+2]) << 16
			n = 4
		}
		for range n {
			out = append(out, cryptAlphabet[v&0x3f])
			v >>= 6
		}
	}
	return out
}

// sha256CryptOrder and sha512CryptOrder are the byte triples sha-crypt
// encodes, in its order; the last group is shorter.
var (
	sha256CryptOrder = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14}, {15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512CryptOrder = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
		{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

// shaCrypt is SHA-crypt as Ulrich Drepper's specification ("Unix crypt
// using SHA-256 and SHA-512", akkadia.org/drepper/SHA-crypt.txt) defines
// it, steps numbered as there; it returns the encoded hash (the part after
// the salt). Implemented here because the Go modules that have it are
// unmaintained; core/testdata/legacyhash holds vectors made by PHP's
// crypt() and passlib, and the specification's own.
func shaCrypt(newHash func() hash.Hash, pw, salt []byte, rounds int) []byte {
	// Steps 4-8: B = H(pw ‖ salt ‖ pw).
	h := newHash()
	size := h.Size()
	h.Write(pw)
	h.Write(salt)
	h.Write(pw)
	b := h.Sum(nil)
	// Steps 1-3, 9-12: A = H(pw ‖ salt ‖ B repeated to len(pw) ‖ for each
	// bit of len(pw), least significant first: B if 1, pw if 0).
	h.Reset()
	h.Write(pw)
	h.Write(salt)
	n := len(pw)
	for ; n > size; n -= size {
		h.Write(b)
	}
	h.Write(b[:n])
	for n = len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)
	// Steps 13-16: P = H(pw repeated len(pw) times), repeated to len(pw).
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	p := repeatTo(h.Sum(nil), len(pw))
	// Steps 17-20: S = H(salt repeated 16+A[0] times), repeated to len(salt).
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(salt)
	}
	sl := repeatTo(h.Sum(nil), len(salt))
	// Step 21: the rounds.
	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sl)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	// Step 22: encode.
	out := make([]byte, 0, 86)
	put := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out = append(out, cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	if size == sha256.Size {
		for _, t := range sha256CryptOrder {
			put(c[t[0]], c[t[1]], c[t[2]], 4)
		}
		put(0, c[31], c[30], 3)
	} else {
		for _, t := range sha512CryptOrder {
			put(c[t[0]], c[t[1]], c[t[2]], 4)
		}
		put(0, 0, c[63], 2)
	}
	return out
}

// repeatTo returns d repeated (and cut) to n bytes.
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}
