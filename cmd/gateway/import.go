package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"legacyauth/core"
)

// importLine is one line of an import file (JSON Lines); docs/migration.md
// documents it.
type importLine struct {
	Phone      string  `json:"phone"`
	Name       string  `json:"name"`
	Nickname   string  `json:"nickname"`
	Gender     string  `json:"gender"`
	Avatar     string  `json:"avatar"`
	DeviceID   string  `json:"device_id"`
	HashFormat string  `json:"hash_format"`
	Hash       string  `json:"hash"`
	Salt       *string `json:"salt"`
	SaltHex    *string `json:"salt_hex"`
	Password   string  `json:"password"`
}

// importOptions are the import command's own flags; the gateway's
// settings follow the file name.
type importOptions struct {
	Plaintext string        // "hash" (argon2id during the import) or "keep" ($legacy$plain$ until the first login)
	Batch     int           // users per store write
	Progress  time.Duration // between progress lines
	MaxErrors int           // failures listed with their line number
}

// importStats is what an import did.
type importStats struct {
	Read, Imported, Skipped, Failed int
	Failures                        []string // the first MaxErrors, "line N: reason"
	Elapsed                         time.Duration
}

const maxImportLine = 64 << 10

// importCommand runs `gateway import [--plaintext hash|keep] [--batch N]
// FILE [gateway flags]`: it opens the stores the configuration names, as
// serve does, and imports every user of FILE ("-" is standard input).
func importCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o importOptions
	fs.StringVar(&o.Plaintext, "plaintext", "hash", `plain passwords: "hash" with argon2id during the import (slow: ~25 ms of CPU each), or "keep" as $legacy$plain$ until the user's first login (fast)`)
	fs.IntVar(&o.Batch, "batch", 1000, "users per store write")
	fs.DurationVar(&o.Progress, "progress", time.Second, "time between progress lines on standard error")
	fs.IntVar(&o.MaxErrors, "max-errors", 20, "failed lines listed with their number and reason")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway import [--plaintext hash|keep] [--batch N] [--progress D] [--max-errors N] FILE [gateway flags, e.g. --store postgres --postgres-url URL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return fmt.Errorf("import: a file is required")
	}
	if o.Plaintext != "hash" && o.Plaintext != "keep" {
		return fmt.Errorf(`import: --plaintext must be "hash" or "keep"`)
	}
	if o.Batch < 1 || o.Batch > 100000 {
		return fmt.Errorf("import: --batch must be 1 to 100000")
	}
	file, rest := fs.Arg(0), fs.Args()[1:]
	cfg, err := parseConfig(rest, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	in := io.Reader(os.Stdin)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		in = f
	}
	log, lw := newLogger(cfg, stderr)
	defer lw.Close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	svc, stores, err := openCore(ctx, cfg, log, overrides{}, nil)
	if err != nil {
		return err
	}
	st, err := importUsers(ctx, svc, in, o, stderr)
	if cerr := stores.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("import: closing the stores: %w", cerr)
	}
	printImportSummary(stdout, st)
	if err != nil {
		return err
	}
	if st.Failed > 0 {
		return fmt.Errorf("import: %d of %d lines failed", st.Failed, st.Read)
	}
	return nil
}

// openCore opens the stores the configuration names and a core over
// them. wire, when not nil, completes the core's configuration once the
// stores are open: serve adds the SMS sender, the limits and metrics; an
// import adds nothing (it sends no code, and metrics' store wrapper would
// hide the store's own batch write).
func openCore(ctx context.Context, cfg *Config, log *slog.Logger, o overrides, wire func(*stores, *core.Config)) (*core.Service, *stores, error) {
	st, err := openStores(ctx, cfg, log, o.Now)
	if err != nil {
		return nil, nil, err
	}
	secret, err := loadSecret(cfg)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	audit, err := newAuditLog(cfg, log, st, o.Now)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	c := core.Config{
		Secret: secret, CodeTTL: cfg.CodeTTL, SessionTTL: cfg.SessionTTL, MaxSessions: cfg.MaxSessions,
		HashConcurrency: cfg.HashConcurrency, HashWait: cfg.HashWait,
		Now: o.Now, Hash: o.Hash, Log: log,
		Audit: audit,
	}
	if wire != nil {
		wire(st, &c)
	}
	svc, err := core.New(st.durable, st.ephemeral, c)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

// importUsers reads JSON Lines from in and imports them in batches of
// o.Batch. Bad lines are counted and listed, never fatal; an error is
// returned only when the input cannot be read or the context ends.
func importUsers(ctx context.Context, svc *core.Service, in io.Reader, o importOptions, progress io.Writer) (*importStats, error) {
	st := &importStats{}
	start := time.Now()
	lastReport := start
	fail := func(line int, msg string) {
		st.Failed++
		if len(st.Failures) < o.MaxErrors {
			st.Failures = append(st.Failures, fmt.Sprintf("line %d: %s", line, msg))
		}
	}
	var (
		reqs  []core.ImportRequest
		lines []int
	)
	flush := func() {
		if len(reqs) == 0 {
			return
		}
		_, errs := svc.ImportUsers(ctx, reqs)
		for i, err := range errs {
			switch {
			case err == nil:
				st.Imported++
			case core.KindOf(err) == core.AlreadyRegistered:
				st.Skipped++
			default:
				fail(lines[i], reason(err))
			}
		}
		reqs, lines = reqs[:0], lines[:0]
		if now := time.Now(); now.Sub(lastReport) >= o.Progress {
			lastReport = now
			el := now.Sub(start)
			fmt.Fprintf(progress, "import: %d lines read, %d imported, %d skipped (already registered), %d failed; %.0f lines/s\n",
				st.Read, st.Imported, st.Skipped, st.Failed, float64(st.Read)/el.Seconds())
		}
	}
	r := bufio.NewReaderSize(in, 256<<10)
	n, plain := 0, 0
	plainBatch := 16 * svc.Config().HashConcurrency
	var err error
	for {
		if err = ctx.Err(); err != nil {
			err = fmt.Errorf("import: interrupted after line %d: %w", n, err)
			break
		}
		line, long, rerr := readLine(r)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			err = fmt.Errorf("import: reading line %d: %w", n+1, rerr)
			break
		}
		if line == nil && !long {
			break // the end
		}
		n++
		switch {
		case long:
			st.Read++
			fail(n, fmt.Sprintf("longer than %d bytes", maxImportLine))
		case len(bytes.TrimSpace(line)) == 0:
			// blank lines are not users
		default:
			st.Read++
			req, perr := parseImportLine(line, o.Plaintext == "hash")
			if perr != nil {
				fail(n, perr.Error())
				break
			}
			reqs, lines = append(reqs, req), append(lines, n)
			if req.Password != "" {
				plain++
			}
			// Plain passwords to hash make a batch slow: cut it short so
			// that progress is reported about every second.
			if len(reqs) >= o.Batch || plain >= plainBatch {
				flush()
				plain = 0
			}
		}
		if rerr != nil {
			break // a last line without a line ending
		}
	}
	if ctx.Err() == nil {
		flush()
	}
	st.Elapsed = time.Since(start)
	return st, err
}

// readLine returns the next line without its line ending; nil (and not
// long) at the end of the input. A line longer than maxImportLine is
// skipped up to its end and reported as long.
func readLine(r *bufio.Reader) (line []byte, long bool, err error) {
	buf := []byte{}
	for {
		chunk, err := r.ReadSlice('\n')
		if !long {
			if len(buf)+len(chunk) > maxImportLine+2 { // +2: the line ending
				long, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && len(buf) == 0 && !long {
			return nil, false, err
		}
		if long {
			return nil, true, err
		}
		return bytes.TrimRight(buf, "\r\n"), false, err
	}
}

// reason is a failure's text for the summary: the core's kind and message,
// which never quote the line's content.
func reason(err error) string {
	var ce *core.Error
	if errors.As(err, &ce) {
		if ce.Msg != "" {
			return ce.Kind.String() + ": " + ce.Msg
		}
		return ce.Kind.String()
	}
	return err.Error()
}

// parseImportLine turns a line into an import request. hashPlain: plain
// passwords go to the core to be hashed with argon2id; otherwise they are
// stored as $legacy$plain$.
func parseImportLine(line []byte, hashPlain bool) (core.ImportRequest, error) {
	var l importLine
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&l); err != nil {
		return core.ImportRequest{}, fmt.Errorf("not a JSON object of the import format: %s", jsonReason(err))
	}
	if d.More() {
		return core.ImportRequest{}, fmt.Errorf("more than one JSON value on the line")
	}
	req := core.ImportRequest{
		Phone:    l.Phone,
		Profile:  core.Profile{Name: l.Name, Nickname: l.Nickname, Gender: l.Gender, Avatar: l.Avatar},
		DeviceID: l.DeviceID,
	}
	if l.Phone == "" {
		return req, fmt.Errorf("phone is required")
	}
	format := l.HashFormat
	if format == "" { // inferred: a password, or a self-describing hash
		switch {
		case l.Password != "" && l.Hash == "":
			format = core.FormatPlain
		case l.Hash != "" && l.Password == "":
			f, err := core.HashFormat(l.Hash)
			if err != nil {
				return req, fmt.Errorf("hash without hash_format: %v (a self-describing hash starts $2a$, $argon2id$, $legacy$, pbkdf2:, scrypt:, pbkdf2_sha256$, $pbkdf2-sha256$, $5$, $6$, $P$ or $H$)", err)
			}
			if f != core.FormatPlain {
				if l.Salt != nil || l.SaltHex != nil {
					return req, fmt.Errorf("a self-describing hash carries its own salt")
				}
				req.PasswordHash = l.Hash // stored as is
				return req, nil
			}
			format = f
			l.Password = strings.TrimPrefix(l.Hash, core.LegacyPlain(""))
			l.Hash = ""
		default:
			return req, fmt.Errorf("exactly one of hash and password is required")
		}
	}
	if format == core.FormatPlain {
		if l.Salt != nil || l.SaltHex != nil {
			return req, fmt.Errorf("salt is only for %s, %s and %s", core.FormatSHA256SaltPW, core.FormatSHA256PWSalt, core.FormatDiscuz)
		}
		if l.Password == "" || l.Hash != "" {
			return req, fmt.Errorf("hash_format plain needs password and no hash")
		}
		if hashPlain {
			req.Password = l.Password
		} else {
			req.PasswordHash = core.LegacyPlain(l.Password)
		}
		return req, nil
	}
	if l.Password != "" || l.Hash == "" {
		return req, fmt.Errorf("hash_format %s needs hash and no password", format)
	}
	var salt []byte
	switch {
	case l.Salt != nil && l.SaltHex != nil:
		return req, fmt.Errorf("salt and salt_hex are exclusive")
	case l.Salt != nil:
		salt = append([]byte{}, *l.Salt...) // not nil: "" is an empty salt
	case l.SaltHex != nil:
		b, err := hex.DecodeString(*l.SaltHex)
		if err != nil {
			return req, fmt.Errorf("salt_hex is not hex")
		}
		salt = b
	}
	h, err := core.ComposeHash(format, l.Hash, salt)
	req.PasswordHash = h
	return req, err
}

// jsonReason describes a decoding error without quoting the line.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "incomplete JSON"
	}
	return "malformed"
}

func printImportSummary(w io.Writer, st *importStats) {
	rate := 0.0
	if st.Elapsed > 0 {
		rate = float64(st.Read) / st.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "import: %d lines read, %d imported, %d skipped (already registered), %d failed in %s (%.0f lines/s)\n",
		st.Read, st.Imported, st.Skipped, st.Failed, st.Elapsed.Round(time.Millisecond), rate)
	for _, f := range st.Failures {
		fmt.Fprintln(w, "  "+f)
	}
	if more := st.Failed - len(st.Failures); more > 0 {
		fmt.Fprintf(w, "  ... and %d more failed lines\n", more)
	}
}
