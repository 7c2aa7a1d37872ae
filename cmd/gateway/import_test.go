package main

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"legacyauth/core"
	"legacyauth/internal/testkit"
)

// importFormat is one way a line of the test file carries its password.
type importFormat struct {
	name   string // the stored hash's format after the import
	stored string // prefix of the stored hash right after the import
	line   func(l map[string]any, i int, pw string)
}

// importPool is how many distinct passwords the formats whose hashes are
// slow to make (bcrypt, argon2id) use, so the file is quick to write.
const importPool = 32

func importPassword(i int) string { return fmt.Sprintf("pw-%d-%d", i%importPool, i) }

// importFormats returns every line format, each with its own hashes; the
// slow ones are made once per pool slot.
func testImportFormats(t testing.TB) []importFormat {
	t.Helper()
	var bc, a2 [importPool]string
	poolPW := func(i int) string { return fmt.Sprintf("pool-%d", i%importPool) }
	for i := range importPool {
		h, err := bcrypt.GenerateFromPassword([]byte(poolPW(i)), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		bc[i] = string(h)
		if a2[i], err = core.HashPassword(poolPW(i), testkit.FastHash); err != nil {
			t.Fatal(err)
		}
	}
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	return []importFormat{
		{core.FormatMD5, "$legacy$md5$", func(l map[string]any, i int, pw string) {
			d := md5.Sum([]byte(pw))
			l["hash_format"], l["hash"] = "md5", hexOf(d[:])
		}},
		{core.FormatSHA1, "$legacy$sha1$", func(l map[string]any, i int, pw string) {
			d := sha1.Sum([]byte(pw))
			l["hash_format"], l["hash"] = "sha1", strings.ToUpper(hexOf(d[:]))
		}},
		{core.FormatSHA256SaltPW, "$legacy$sha256-salt-pw$", func(l map[string]any, i int, pw string) {
			salt := fmt.Sprintf("s$%d", i)
			d := sha256.Sum256([]byte(salt + pw))
			l["hash_format"], l["salt"], l["hash"] = "sha256-salt-pw", salt, hexOf(d[:])
		}},
		{core.FormatSHA256PWSalt, "$legacy$sha256-pw-salt$", func(l map[string]any, i int, pw string) {
			salt := []byte{byte(i), 0, '$', 0xff}
			d := sha256.Sum256(append([]byte(pw), salt...))
			l["hash_format"], l["salt_hex"], l["hash"] = "sha256-pw-salt", hexOf(salt), hexOf(d[:])
		}},
		{core.FormatBcrypt, "$2a$04$", func(l map[string]any, i int, _ string) {
			l["hash_format"], l["hash"] = "bcrypt", bc[i%importPool]
		}},
		{core.FormatArgon2id, "$argon2id$", func(l map[string]any, i int, _ string) {
			l["hash_format"], l["hash"] = "argon2id", a2[i%importPool]
		}},
		// Hashed with argon2id during the import (--plaintext=hash).
		{core.FormatPlain, "$legacy$plain$", func(l map[string]any, i int, pw string) {
			l["hash_format"], l["password"] = "plain", pw
		}},
		// No hash_format: a self-describing hash, stored as is.
		{"self-describing sha1", "$legacy$sha1$", func(l map[string]any, i int, pw string) {
			d := sha1.Sum([]byte(pw))
			l["hash"] = "$legacy$sha1$" + hexOf(d[:])
		}},
	}
}

// passwordOf is the password user i of format f logs in with.
func passwordOf(f importFormat, i int) string {
	if f.name == core.FormatBcrypt || f.name == core.FormatArgon2id {
		return fmt.Sprintf("pool-%d", i%importPool)
	}
	return importPassword(i)
}

func importPhone(i int) string { return fmt.Sprintf("139%08d", i) }

// writeImportFile writes n users, format i%len(formats) for user i.
func writeImportFile(t testing.TB, path string, n int, formats []importFormat) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range n {
		l := map[string]any{"phone": importPhone(i), "name": fmt.Sprintf("User %d", i)}
		if i%3 == 0 {
			l["gender"], l["device_id"] = "1", "old-device"
		}
		formats[i%len(formats)].line(l, i, importPassword(i))
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openTestCore opens the memdb store in dir and a core over it, as
// `gateway import` does but with the tests' fast hash.
func openTestCore(t testing.TB, dir string) (*core.Service, *stores) {
	t.Helper()
	cfg, err := parseConfig([]string{"--data-dir", dir}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, st, err := openCore(context.Background(), cfg, quietLogger(), overrides{Hash: testkit.FastHash}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing the stores: %v", err)
		}
	})
	return svc, st
}

func importFile(t testing.TB, svc *core.Service, path string, o importOptions, progress io.Writer) *importStats {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := importUsers(context.Background(), svc, f, o, progress)
	if err != nil {
		t.Fatalf("importUsers: %v", err)
	}
	return st
}

// TestImport100k imports 100,000 users in every format into memdb, runs
// the import again (everything is skipped), checks every stored user,
// and logs a sample of every format in: each logs in with its old
// password, a wrong one fails, and the stored hash becomes argon2id at
// that login. One store open serves it all: a reopen replays the log,
// which takes seconds with the race detector; TestImportCommand reopens
// and logs in through /v1.
func TestImport100k(t *testing.T) {
	const n = 100_000
	if testing.Short() {
		t.Skip("imports 100,000 users")
	}
	dir, file := t.TempDir(), filepath.Join(t.TempDir(), "users.jsonl")
	formats := testImportFormats(t)
	writeImportFile(t, file, n, formats)
	svc, stores := openTestCore(t, dir)

	// --plaintext=keep, so that plain passwords too are re-hashed at the
	// first login (and 12,500 argon2id hashes do not slow the test).
	o := importOptions{Plaintext: "keep", Batch: 1000, Progress: time.Nanosecond, MaxErrors: 20}
	var progress strings.Builder
	st := importFile(t, svc, file, o, &progress)
	t.Logf("import: %d users in %s (%.0f users/s)", st.Imported, st.Elapsed.Round(time.Millisecond), float64(st.Imported)/st.Elapsed.Seconds())
	if st.Read != n || st.Imported != n || st.Skipped != 0 || st.Failed != 0 {
		t.Fatalf("first import: %+v", st)
	}
	if !regexp.MustCompile(`(?m)^import: \d+ lines read, \d+ imported, 0 skipped \(already registered\), 0 failed; \d+ lines/s$`).MatchString(progress.String()) {
		t.Errorf("no progress reported: %.300q", progress.String())
	}

	st = importFile(t, svc, file, o, io.Discard)
	t.Logf("again: %d skipped in %s", st.Skipped, st.Elapsed.Round(time.Millisecond))
	if st.Read != n || st.Imported != 0 || st.Skipped != n || st.Failed != 0 {
		t.Fatalf("second import: %+v", st)
	}

	ctx := context.Background()
	user := func(i int) *core.User {
		t.Helper()
		u, err := stores.durable.UserByPhone(ctx, "+86"+importPhone(i))
		if err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
		return u
	}
	// Every user is there, with the hash its format makes.
	counts := map[string]int{}
	for i := range n {
		f := formats[i%len(formats)]
		u := user(i)
		if !strings.HasPrefix(u.PasswordHash, f.stored) {
			t.Fatalf("user %d (%s): stored hash %q, want %s...", i, f.name, u.PasswordHash, f.stored)
		}
		if u.Name != fmt.Sprintf("User %d", i) || (i%3 == 0) != (u.DeviceID == "old-device" && u.Gender == "1") {
			t.Fatalf("user %d: profile %+v", i, u)
		}
		counts[f.name]++
	}
	for _, f := range formats {
		if want := n / len(formats); counts[f.name] != want {
			t.Errorf("%s: %d users, want %d", f.name, counts[f.name], want)
		}
	}

	// A sample of every format logs in.
	const sample = 20
	for fi, f := range formats {
		for k := range sample {
			i := fi + len(formats)*(k*(n/len(formats)/sample)) // spread over the file
			before := user(i).PasswordHash
			req := core.LoginRequest{Phone: importPhone(i), Password: passwordOf(f, i) + "x", DeviceID: "new"}
			if _, err := svc.Login(ctx, req); core.KindOf(err) != core.WrongPassword {
				t.Fatalf("%s user %d, wrong password: %v", f.name, i, err)
			}
			if after := user(i).PasswordHash; after != before {
				t.Fatalf("%s user %d: a failed login changed the hash", f.name, i)
			}
			req.Password = passwordOf(f, i)
			res, err := svc.Login(ctx, req)
			if err != nil {
				t.Fatalf("%s user %d: login: %v", f.name, i, err)
			}
			after := user(i).PasswordHash
			if !strings.HasPrefix(after, "$argon2id$v=19$m=64,t=1,p=1$") || res.User.PasswordHash != after {
				t.Fatalf("%s user %d: hash after login %q", f.name, i, after)
			}
			if strings.HasPrefix(before, "$argon2id$") != (after == before) {
				t.Errorf("%s user %d: hash %q became %q; only legacy hashes are replaced", f.name, i, before, after)
			}
			if res.DeviceChanged != (i%3 == 0) {
				t.Errorf("%s user %d: DeviceChanged %v", f.name, i, res.DeviceChanged)
			}
			if _, err := svc.Login(ctx, req); err != nil {
				t.Fatalf("%s user %d: second login: %v", f.name, i, err)
			}
		}
	}
}

// TestImportCommand runs `gateway import` as the command line does: bad
// lines are listed with their numbers and make the exit status non-zero
// without stopping the rest; --plaintext=keep stores plain passwords
// until the first login; a re-run skips what is there.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "users.jsonl")
	lines := []string{
		`{"phone":"13800000001","name":"Ann","hash_format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}`,
		`{"phone":"13800000002","hash_format":"plain","password":"hunter2"}`,
		``,
		`{"phone":"13800000003","hash_format":"sha256-salt-pw","salt":"NaCl","hash":"abc"}`,
		`not json`,
		`{"phone":"13800000004","hash_fromat":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}`,
		`{"phone":"12","hash_format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}`,
		`{"phone":"13800000005","hash_format":"crc32","hash":"cbf43926"}`,
		`{"phone":"13800000006","hash_format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99","password":"x"}`,
		`{"phone":"13800000007","hash_format":"sha256-pw-salt","hash":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}`,
		`{"phone":"13800000008","hash_format":"bcrypt","hash":"$2y$04$short"}`,
		`{"phone":"13800000001","hash_format":"sha1","hash":"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"}`,
		`{"phone":"13800000009","hash_format":"sha256-pw-salt","salt":"","hash":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"}`,
		`{"phone":"13800000010","hash":"$legacy$plain$from a hash"}`,
		`{"phone":"13800000011","gender":"x","hash_format":"md5","hash":"5f4dcc3b5aa765d61d8327deb882cf99"}`,
		`{"phone":"13800000012","password":"` + strings.Repeat("y", maxImportLine) + `"}`,
		`{"phone":"13800000013","password":"crlf"}` + "\r",
		`{"phone":"13800000014","password":"last"}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	run1 := func(args ...string) (string, string, error) {
		var stdout, stderr strings.Builder
		args = append(append([]string{"import"}, args...), file, "--data-dir", dir, "--log-format", "text")
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	out, errOut, err := run1("--plaintext", "keep")
	if err == nil || !strings.Contains(err.Error(), "10 of 17 lines failed") {
		t.Fatalf("error %v, want 10 of 17 lines failed\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, want := range []string{
		"import: 17 lines read, 6 imported, 1 skipped (already registered), 10 failed in",
		"line 4: bad sha256-salt-pw digest",
		"line 5: not a JSON object of the import format: syntax error",
		`line 6: not a JSON object of the import format: unknown field "hash_fromat"`,
		"line 7: invalid: not a phone number",
		`line 8: unknown hash_format "crc32"`,
		"line 9: hash_format md5 needs hash and no password",
		"line 10: hash_format sha256-pw-salt needs salt or salt_hex",
		"line 11: bad bcrypt hash",
		`line 15: invalid: gender must be "0" or "1"`,
		fmt.Sprintf("line 16: longer than %d bytes", maxImportLine),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "5f4dcc3b") || strings.Contains(out, "hunter2") {
		t.Errorf("the summary quotes a line's content:\n%s", out)
	}

	out, _, err = run1("--plaintext", "keep")
	if err == nil || !strings.Contains(out, "17 lines read, 0 imported, 7 skipped (already registered), 10 failed") {
		t.Fatalf("re-run: %v\n%s", err, out)
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
	for phone, want := range map[string]string{
		"13800000001": "$legacy$md5$5f4dcc3b5aa765d61d8327deb882cf99", // the first line of a phone wins
		"13800000002": "$legacy$plain$hunter2",
		"13800000009": "$legacy$sha256-pw-salt$$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
		"13800000010": "$legacy$plain$from a hash",
		"13800000013": "$legacy$plain$crlf",
		"13800000014": "$legacy$plain$last",
	} {
		if got := stored(phone); got != want {
			t.Errorf("%s: stored %q, want %q", phone, got, want)
		}
	}
	c := newClient(t, g)
	for phone, pw := range map[string]string{"13800000001": "password", "13800000002": "hunter2", "13800000009": "password", "13800000014": "last"} {
		if st, r := c.json("/v1/sessions", map[string]string{"phone": phone, "password": pw}); st != http.StatusCreated {
			t.Fatalf("%s: login %d %v", phone, st, r)
		}
		if h := stored(phone); !strings.HasPrefix(h, "$argon2id$") {
			t.Errorf("%s: hash after login %q", phone, h)
		}
	}
}

// TestImportPlaintextHashed: by default (--plaintext=hash) plain passwords
// are hashed with argon2id (the production parameters) during the import,
// so none is stored.
func TestImportPlaintextHashed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "users.jsonl")
	body := `{"phone":"13900000001","hash_format":"plain","password":"first pw"}` + "\n" +
		`{"phone":"13900000002","password":"second pw"}` + "\n" +
		`{"phone":"13900000003","hash":"$legacy$plain$third pw"}` + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"import", file, "--data-dir", dir}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(out.String(), "import: 3 lines read, 3 imported, 0 skipped (already registered), 0 failed in ") {
		t.Errorf("summary %q", out.String())
	}
	g := startGateway(t, "--data-dir", dir, "--limits", "off")
	c := newClient(t, g)
	for i, pw := range []string{"first pw", "second pw", "third pw"} {
		phone := fmt.Sprintf("1390000000%d", i+1)
		u, err := g.stores.durable.UserByPhone(context.Background(), "+86"+phone)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(u.PasswordHash, pw) {
			t.Errorf("%s: stored %q", phone, u.PasswordHash)
		}
		if st, r := c.json("/v1/sessions", map[string]string{"phone": phone, "password": pw}); st != http.StatusCreated {
			t.Errorf("%s: login %d %v", phone, st, r)
		}
	}
}

func TestImportCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"import"},
		{"import", "--plaintext", "maybe", "f.jsonl"},
		{"import", "--batch", "0", "f.jsonl"},
		{"import", filepath.Join(t.TempDir(), "missing.jsonl"), "--data-dir", t.TempDir()},
		{"import", "f.jsonl", "--no-such-flag"},
	} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
