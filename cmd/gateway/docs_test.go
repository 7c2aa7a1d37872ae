package main

// Tests of the documentation: README.md's commands work, the README stays
// a front door, and the documents' links and tables of contents hold.

import (
	"bufio"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"legacyauth/internal/testkit"
)

const readmePath = "../../README.md"

// readmeMaxLines keeps the README a front door; manuals go to docs/.
const readmeMaxLines = 250

// readmeElsewhere lists the README commands this test does not run, and
// who does. An entry for `make run` also covers the same command prefixed
// with settings (GATEWAY_X=v make run ...): this test checks that each is a
// setting and that together they parse. An entry naming .ci/run is checked
// to be in .ci/run.
var readmeElsewhere = map[string]string{
	"make test": ".ci/run runs `make test`",
	"make run": "not run by a test (it serves until stopped): TestREADMECommands checks " +
		"that the Makefile's run target is `go run ./cmd/gateway` without arguments, and " +
		"serves the quick start from that configuration in-process",
	"make run 2>&1 | tee gateway.log": "as `make run`; TestREADMECommands writes the " +
		"gateway's log to gateway.log in each format and reads codes from it with the README's `code`",
	"go test ./cmd/gateway -run TestGolden": "TestGolden is itself a test",
	"go run ./cmd/gateway contract verify --target https://gateway.example --test-phones '+8613800000xxx=246810'": "TestContractVerifyDeployed runs it, twice, against a gateway process",
	"go run ./cmd/gateway contract verify --old-server --dialect apiv4 --target http://old-apiv4.example:5000":    "TestContractVerifyOldServer runs it against the old servers' doubles",
}

// readmeCommand is one command of a ```sh block of README.md.
type readmeCommand struct {
	line int      // README line of the command's first line
	text string   // the command, continuation lines joined
	want []string // the `#>` lines after it: its expected output
}

// readmeBlock is one ```sh block.
type readmeBlock struct {
	line     int
	commands []readmeCommand
}

// readmeBlocks parses README.md's ```sh blocks.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []readmeBlock
		cur    *readmeBlock
		fenced bool // inside a fence that is not ```sh
		cont   bool // the previous command line ended in `\`
	)
	for i, l := range strings.Split(string(data), "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && !fenced && trimmed == "```sh":
			blocks = append(blocks, readmeBlock{line: n})
			cur = &blocks[len(blocks)-1]
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			fenced = !fenced
		case cur == nil:
		case trimmed == "```":
			cur, cont = nil, false
		case cont:
			c := &cur.commands[len(cur.commands)-1]
			c.text = strings.TrimSuffix(c.text, `\`) + " " + trimmed
			cont = strings.HasSuffix(trimmed, `\`)
		case strings.HasPrefix(trimmed, "#>"):
			if len(cur.commands) == 0 {
				t.Fatalf("README.md:%d: a #> line before any command", n)
			}
			c := &cur.commands[len(cur.commands)-1]
			c.want = append(c.want, strings.TrimSpace(strings.TrimPrefix(trimmed, "#>")))
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		default:
			cur.commands = append(cur.commands, readmeCommand{line: n, text: trimmed})
			cont = strings.HasSuffix(trimmed, `\`)
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated ```sh block", cur.line)
	}
	return blocks
}

// readmeRuns reports whether TestREADMECommands runs the command itself:
// requests to the gateway `make run` serves, and the `code` helper.
func readmeRuns(cmd string) bool {
	return strings.Contains(cmd, "http://127.0.0.1:8080") || strings.HasPrefix(cmd, "code() ")
}

var (
	trailingComment = regexp.MustCompile(`\s+#\s.*$`)
	envAssignment   = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(\S*)$`)
)

// splitEnv splits `A=1 B=2 make run` into its settings and the command.
func splitEnv(cmd string) (env map[string]string, rest string) {
	cmd = strings.TrimSpace(trailingComment.ReplaceAllString(cmd, ""))
	env = map[string]string{}
	fields := strings.Fields(cmd)
	for len(fields) > 0 {
		m := envAssignment.FindStringSubmatch(fields[0])
		if m == nil {
			break
		}
		env[m[1]], fields = m[2], fields[1:]
	}
	return env, strings.Join(fields, " ")
}

// TestREADMEElsewhere: every README command that TestREADMECommands does
// not run is listed in readmeElsewhere, and every entry still holds.
func TestREADMEElsewhere(t *testing.T) {
	used := map[string]bool{}
	for _, b := range readmeBlocks(t) {
		for _, c := range b.commands {
			if readmeRuns(c.text) {
				continue
			}
			env, base := splitEnv(c.text)
			who, ok := readmeElsewhere[base]
			if !ok {
				t.Errorf("README.md:%d: %q is neither run by TestREADMECommands nor listed in readmeElsewhere (docs_test.go) with what runs it", c.line, c.text)
				continue
			}
			used[base] = true
			if len(env) > 0 {
				if !strings.HasPrefix(base, "make run") {
					t.Errorf("README.md:%d: settings are only checked before `make run`: %q", c.line, c.text)
				}
				checkSettings(t, c, env)
			}
			if strings.HasPrefix(who, ".ci/run") {
				ci, err := os.ReadFile("../../.ci/run")
				if err != nil {
					t.Fatal(err)
				}
				if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(base) + `\s*$`).Match(ci) {
					t.Errorf("README.md:%d: readmeElsewhere says .ci/run runs %q; it does not", c.line, base)
				}
			}
		}
	}
	for cmd := range readmeElsewhere {
		if !used[cmd] {
			t.Errorf("readmeElsewhere lists %q, which README.md no longer has", cmd)
		}
	}
	checkMakeRun(t)
}

// checkSettings: each variable set before a README command is a setting,
// and together they parse.
func checkSettings(t *testing.T, c readmeCommand, env map[string]string) {
	t.Helper()
	known := map[string]bool{}
	for _, s := range settings(&Config{}) {
		known[s.env] = true
	}
	for k := range env {
		if !known[k] {
			t.Errorf("README.md:%d: %s is not a setting", c.line, k)
		}
	}
	if _, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Errorf("README.md:%d: %q: %v", c.line, c.text, err)
	}
}

// checkMakeRun: `make run` is the gateway with no arguments, the
// configuration TestREADMECommands serves.
func checkMakeRun(t *testing.T) {
	t.Helper()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^run:.*\n\t(.*)$`).FindSubmatch(mk)
	if m == nil || strings.TrimSpace(string(m[1])) != "$(GO) run ./cmd/gateway" {
		t.Errorf("Makefile: the run target's recipe is %q; TestREADMECommands assumes `$(GO) run ./cmd/gateway`", m)
	}
}

// TestREADMECommands runs the README's quick start, as written, against an
// in-process gateway built from `make run`'s configuration (no arguments)
// whose log, in each format, goes to gateway.log in the directory the
// commands run in. http://127.0.0.1:8080 becomes the gateway's address,
// and the clock stands still: the commands must work with the limits on,
// one right after the other, as pasted. Each command
// must exit 0 and print what its `#>` lines show (whitespace aside, `...`
// for anything), or nothing when it has none.
func TestREADMECommands(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "grep", "sed", "tail"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README's quick start needs %s, which is not installed: not run", tool)
		}
	}
	blocks := readmeBlocks(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			url, flush := startREADMEGateway(t, format, filepath.Join(dir, "gateway.log"))
			sh := startShell(t, dir)
			ran := 0
			for _, b := range blocks {
				for _, c := range b.commands {
					if !readmeRuns(c.text) {
						continue
					}
					out, status := sh.run(t, strings.ReplaceAll(c.text, "http://127.0.0.1:8080", url))
					flush()
					ran++
					if status != 0 {
						t.Errorf("README.md:%d: exit status %d: %s\noutput: %s", c.line, status, c.text, out)
						continue
					}
					if !outputMatches(out, c.want) {
						t.Errorf("README.md:%d: %s\n got: %s\nwant: %s", c.line, c.text, out, strings.Join(c.want, "\n"))
					}
				}
			}
			if ran < 10 {
				t.Errorf("only %d README commands ran; the quick start is missing", ran)
			}
		})
	}
}

// startREADMEGateway serves `make run`'s configuration (no flags, no
// environment) with its data in a temporary directory, the production
// logger of the given format writing to logPath, a test clock and a fast
// hash. flush writes out the log's pending lines.
func startREADMEGateway(t *testing.T, format, logPath string) (url string, flush func()) {
	t.Helper()
	env := map[string]string{"GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_LOG_FORMAT": format}
	cfg, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log, lw := newLogger(cfg, f)
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	a, err := build(cfg, log, overrides{Now: clock.Now, Hash: testkit.FastHash})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		a.Close()
		lw.Close()
		f.Close()
	})
	return srv.URL, func() { _ = lw.Flush() }
}

// shell is one bash process the README's commands run in, one after the
// other, so that functions and variables carry over as in a terminal.
type shell struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *syncBuffer
	n      int
}

func startShell(t *testing.T, dir string) *shell {
	t.Helper()
	cmd := exec.Command("bash", "--norc", "--noprofile")
	cmd.Dir = dir
	// No proxy variables: curl must reach the loopback gateway directly.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C"}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sh := &shell{cmd: cmd, in: in, out: bufio.NewReader(out), stderr: &syncBuffer{}}
	cmd.Stderr = sh.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return sh
}

// run runs one command and returns what it printed on standard output and
// its exit status. What it prints on standard error is an error.
func (sh *shell) run(t *testing.T, command string) (string, int) {
	t.Helper()
	sh.n++
	marker := fmt.Sprintf("@@readme-command-%d@@", sh.n)
	if _, err := fmt.Fprintf(sh.in, "%s\nprintf '\\n%s %%d\\n' $?\n", command, marker); err != nil {
		t.Fatalf("shell: %v", err)
	}
	timer := time.AfterFunc(30*time.Second, func() { _ = sh.cmd.Process.Kill() })
	defer timer.Stop()
	var out strings.Builder
	for {
		line, err := sh.out.ReadString('\n')
		if rest, ok := strings.CutPrefix(line, marker+" "); ok {
			var status int
			fmt.Sscanf(rest, "%d", &status)
			if e := sh.stderr.take(); e != "" {
				t.Errorf("%s\nprinted on standard error: %s", command, e)
			}
			return strings.TrimSuffix(out.String(), "\n"), status
		}
		out.WriteString(line)
		if err != nil {
			t.Fatalf("shell ended (or the command took over 30s): %v\n%s\nstandard error: %s", err, command, sh.stderr.take())
		}
	}
}

// outputMatches compares a command's output with its #> lines: whitespace
// is ignored (apiv4's replies are indented, the README shows them on one
// line) and `...` stands for anything.
func outputMatches(got string, want []string) bool {
	strip := func(s string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, s)
	}
	pattern := strings.ReplaceAll(regexp.QuoteMeta(strip(strings.Join(want, ""))), `\.\.\.`, `.*`)
	return regexp.MustCompile(`^` + pattern + `$`).MatchString(strip(got))
}

// syncBuffer collects a process's standard error.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.b.String()
	s.b.Reset()
	return v
}

// TestREADMELength keeps the README a front door.
func TestREADMELength(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move reference material to docs/", n, readmeMaxLines)
	}
}

// markdownDocs are the documents whose links and contents are checked.
func markdownDocs(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no docs/*.md")
	}
	return append([]string{readmePath}, docs...)
}

var (
	mdHeading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*$`)
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdTOCLine = regexp.MustCompile(`^\s*- \[[^\]]*\]\(#([^)]+)\)\s*$`)
)

// mdParse returns a document's heading anchors (GitHub's slugs) and its
// lines outside code fences.
func mdParse(t *testing.T, path string) (anchors map[string]bool, lines []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors = map[string]bool{}
	fenced := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		lines = append(lines, l)
		if m := mdHeading.FindStringSubmatch(l); m != nil {
			anchors[slug(m[2])] = true
		}
	}
	return anchors, lines
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces made dashes.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// TestDocsLinks: every relative link of the README and docs/ names a file
// that exists and, after #, a heading of it.
func TestDocsLinks(t *testing.T) {
	for _, doc := range markdownDocs(t) {
		_, lines := mdParse(t, doc)
		for _, l := range lines {
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := doc
				if file != "" {
					path = filepath.Join(filepath.Dir(doc), file)
					if _, err := os.Stat(path); err != nil {
						t.Errorf("%s: link %q: %v", doc, target, err)
						continue
					}
				}
				if anchor == "" {
					continue
				}
				if !strings.HasSuffix(path, ".md") {
					t.Errorf("%s: link %q: an anchor in a file that is not Markdown", doc, target)
					continue
				}
				if anchors, _ := mdParse(t, path); !anchors[anchor] {
					t.Errorf("%s: link %q: %s has no heading with that anchor", doc, target, path)
				}
			}
		}
	}
}

// TestDocsTableOfContents: every document in docs/ longer than 100 lines
// opens with a list linking to each of its second-level headings.
func TestDocsTableOfContents(t *testing.T) {
	for _, doc := range markdownDocs(t)[1:] {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(data), "\n") <= 100 {
			continue
		}
		_, lines := mdParse(t, doc)
		listed := map[string]bool{}
		for _, l := range lines {
			if m := mdTOCLine.FindStringSubmatch(l); m != nil {
				listed[m[1]] = true
			}
		}
		for _, l := range lines {
			if m := mdHeading.FindStringSubmatch(l); m != nil && len(m[1]) == 2 && !listed[slug(m[2])] {
				t.Errorf("%s: the table of contents lacks %q", doc, m[2])
			}
		}
	}
}
