package main

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
)

// libraryVector is a line of core/testdata/legacyhash/*.jsonl: a hash
// made by an old stack's own library (werkzeug, Django, passlib, PHP).
type libraryVector struct {
	Format   string  `json:"format"`
	Password string  `json:"password"`
	Hash     string  `json:"hash"`
	Salt     *string `json:"salt"`
	By       string  `json:"by"`
}

// variant names a vector's format and the library's variant of it (the
// hash's own prefix: pbkdf2:sha1 or pbkdf2:sha512, $5$ or $6$, $P$ or $H$).
func (v libraryVector) variant() string {
	switch v.Format {
	case core.FormatDiscuz:
		return v.Format
	case core.FormatWerkzeugScrypt:
		return v.Format + " scrypt"
	case core.FormatWerkzeugPBKDF2:
		m, _, _ := strings.Cut(v.Hash, "$")
		return v.Format + " " + strings.Join(strings.Split(m, ":")[:2], ":")
	}
	i := strings.IndexByte(v.Hash[1:], '$') + 1
	return v.Format + " " + v.Hash[:i+1]
}

// libraryVectors returns one quick vector a variant: the first whose hash
// verifies quickly (not one at its library's default cost).
func libraryVectors(t *testing.T) []libraryVector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "core", "testdata", "legacyhash", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	seen := map[string]bool{}
	var out []libraryVector
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var v libraryVector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if seen[v.variant()] {
				continue
			}
			var salt []byte
			if v.Salt != nil {
				salt = []byte(*v.Salt)
			}
			h, err := core.ComposeHash(v.Format, v.Hash, salt)
			if err != nil {
				t.Fatalf("%s: %v", v.By, err)
			}
			start := time.Now()
			if ok, _, err := core.VerifyPassword(v.Password, h, core.HashParams{}); !ok || err != nil {
				t.Fatalf("%s: does not verify: %v", v.By, err)
			}
			if time.Since(start) < 200*time.Millisecond { // under -race, on a shared machine
				seen[v.variant()] = true
				out = append(out, v)
			}
		}
		fh.Close()
	}
	return out
}

// TestImportLibraryHashesAllDialects: a hash of every format and variant,
// made by its real library, imports through `gateway import` (the
// self-describing ones with only "hash", Discuz with hash_format and
// salt), logs in through each old dialect, refusing a wrong password
// first, and is re-hashed to argon2id at that first login.
func TestImportLibraryHashesAllDialects(t *testing.T) {
	vs := libraryVectors(t)
	variants := map[string]bool{}
	for _, v := range vs {
		variants[v.variant()] = true
	}
	for _, want := range []string{
		"werkzeug-pbkdf2 pbkdf2:sha1", "werkzeug-pbkdf2 pbkdf2:sha256", "werkzeug-pbkdf2 pbkdf2:sha512", "werkzeug-scrypt scrypt",
		"django-pbkdf2 pbkdf2_sha1$", "django-pbkdf2 pbkdf2_sha256$",
		"passlib-pbkdf2 $pbkdf2$", "passlib-pbkdf2 $pbkdf2-sha256$", "passlib-pbkdf2 $pbkdf2-sha512$",
		"sha256-crypt $5$", "sha512-crypt $6$", "phpass $P$", "phpass $H$", "discuz",
	} {
		if !variants[want] {
			t.Errorf("no quick vector of %s", want)
		}
	}
	dialects := []limDialect{limDialectNamed("caraccessories"), limDialectNamed("apiv4"), limDialectNamed("resultcode")}

	dir, file := t.TempDir(), filepath.Join(t.TempDir(), "users.jsonl")
	var lines []string
	phone := func(vi, di int) string { return fmt.Sprintf("1360000%02d%02d", vi, di) }
	for vi, v := range vs {
		for di := range dialects {
			l := map[string]any{"phone": phone(vi, di), "hash": v.Hash}
			if v.Salt != nil {
				l["hash_format"], l["salt"] = v.Format, *v.Salt
			}
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(b))
		}
	}
	// The same hashes named by hash_format import too; lines that break
	// a bound or a rule are refused with their number.
	for vi, v := range vs {
		l := map[string]any{"phone": phone(vi, 9), "hash_format": v.Format, "hash": v.Hash}
		if v.Salt != nil {
			l["salt"] = *v.Salt
		}
		b, _ := json.Marshal(l)
		lines = append(lines, string(b))
	}
	good := len(lines)
	bad := []string{
		`{"phone":"13699999901","hash":"pbkdf2:sha256:2000001$salt$` + strings.Repeat("ab", 32) + `"}`,
		`{"phone":"13699999902","hash":"scrypt:131072:8:1$salt$` + strings.Repeat("ab", 64) + `"}`,
		`{"phone":"13699999903","hash":"$6$rounds=1000001$salt$` + strings.Repeat("a", 86) + `"}`,
		`{"phone":"13699999904","hash":"$P$J12345678` + strings.Repeat("a", 22) + `"}`,
		`{"phone":"13699999905","hash_format":"discuz","hash":"` + strings.Repeat("ab", 16) + `"}`,
		`{"phone":"13699999906","hash":"$5$salt$` + strings.Repeat("a", 43) + `","salt":"x"}`,
		`{"phone":"13699999907","hash_format":"phpass","hash":"$5$salt$` + strings.Repeat("a", 43) + `"}`,
	}
	lines = append(lines, bad...)
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := run(context.Background(), []string{"import", file, "--data-dir", dir}, func(string) string { return "" }, &out, &strings.Builder{})
	if err == nil || !strings.Contains(out.String(), fmt.Sprintf("%d lines read, %d imported, 0 skipped (already registered), %d failed", len(lines), good, len(bad))) {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	for i, want := range []string{
		"bad werkzeug pbkdf2 hash: iterations must be 1 to 2000000",
		"bad werkzeug scrypt hash: 128·N·r must be at most",
		"bad sha512-crypt hash: rounds must be 1000 to 1000000",
		"bad phpass hash: the count must be 2^7 to 2^20",
		"hash_format discuz needs salt or salt_hex",
		"a self-describing hash carries its own salt",
		"hash is sha256-crypt, not phpass",
	} {
		prefix := fmt.Sprintf("  line %d: ", good+i+1)
		found := false
		for _, l := range strings.Split(out.String(), "\n") {
			found = found || strings.HasPrefix(l, prefix) && strings.Contains(l, want)
		}
		if !found {
			t.Errorf("summary lacks %q%s:\n%s", prefix, want, out.String())
		}
	}
	for _, v := range vs {
		if strings.Contains(out.String(), v.Hash) {
			t.Errorf("the summary quotes a hash")
		}
	}

	g := startGateway(t, "--data-dir", dir, "--limits", "off")
	ctx := context.Background()
	stored := func(phone string) string {
		u, err := g.stores.durable.UserByPhone(ctx, "+86"+phone)
		if err != nil {
			t.Fatalf("%s: %v", phone, err)
		}
		return u.PasswordHash
	}
	for vi, v := range vs {
		for di, d := range dialects {
			t.Run(v.variant()+"/"+d.name, func(t *testing.T) {
				p := phone(vi, di)
				before := stored(p)
				if f, err := core.HashFormat(before); err != nil || f != v.Format {
					t.Fatalf("stored hash of format %q, %v; want %s", f, err, v.Format)
				}
				if v.Salt == nil && before != v.Hash {
					t.Fatalf("stored %q, not the hash as the library wrote it", before)
				}
				c := newLimClient(t, g, "")
				if r := d.login(c, p, v.Password+"x"); !d.loginWrong(r) {
					t.Fatalf("wrong password: HTTP %d %s", r.status, r.body)
				}
				if after := stored(p); after != before {
					t.Fatalf("a failed login changed the hash")
				}
				if r := d.login(c, p, v.Password); !d.loggedIn(r) {
					t.Fatalf("login (%s): HTTP %d %s", v.By, r.status, r.body)
				}
				after := stored(p)
				if !strings.HasPrefix(after, "$argon2id$") {
					t.Fatalf("hash after the first login: %q", after)
				}
				if r := d.login(newLimClient(t, g, ""), p, v.Password); !d.loggedIn(r) {
					t.Fatalf("second login: HTTP %d %s", r.status, r.body)
				}
				if again := stored(p); again != after {
					t.Errorf("the argon2id hash was replaced again")
				}
			})
		}
		if got := stored(phone(vi, 9)); got != v.Hash && v.Salt == nil {
			t.Errorf("%s named by hash_format: stored %q", v.variant(), got)
		}
	}
}
