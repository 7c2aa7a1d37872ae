// Package oldserver is a test double of the three old servers the gateway
// replaces, written from their documents (the seeds, as
// docs/dialects.md reads them): one Server per dialect, holding its users, codes
// and sessions in memory, serving the old paths and answering in the old
// formats byte for byte (caraccessories' compact servlet JSON, apiv4's
// Flask 0.10 jsonify output, resultcode's Python json.dumps).
//
// It is the old server as documented, quirks included, not the gateway's
// stricter reading of it:
//   - apiv4 sends no SMS and checks no code ("为了节约短信数量, 目前不发送短信,
//     注册和忘记密码不校验"), and /forget_password needs no /verify_code.
//   - resultcode echoes the code in the send step's message and its verify
//     step compares code_v (the echoed code) with code; its replies carry
//     None (null) where the document says so.
//   - caraccessories checks codes (its document says nothing otherwise).
//
// Outcomes the documents leave open (malformed input, a wrong method) get
// a plausible answer of the old framework, documented at each handler. It
// exists so that the gateway's migration modes (proxy, shadow, split, lazy
// migration) can be tested against a real HTTP server; it is not for
// production. A Server is an http.Handler; serve it with httptest.
package oldserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Dialect names, as the gateway names them.
const (
	Caraccessories = "caraccessories"
	APIv4          = "apiv4"
	Resultcode     = "resultcode"
)

// DefaultPrefix is where each old server served its API.
var DefaultPrefix = map[string]string{
	Caraccessories: "/caraccessories/app",
	APIv4:          "/api/v4.0",
	Resultcode:     "",
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// Prefix is the mount prefix; "" takes DefaultPrefix (resultcode's is
	// the root).
	Prefix string
	// Now is the server's clock (code expiry and the Date header); nil is
	// time.Now.
	Now func() time.Time
	// Token mints session tokens, user ids, flow ids and file names (32
	// lowercase hex); nil draws random ones. A test comparing two replies
	// byte for byte makes it deterministic.
	Token func() string
	// Code mints an n-digit code; nil draws random digits.
	Code func(n int) string
	// CodeTTL is a code's lifetime; 0 is 5 minutes.
	CodeTTL time.Duration
}

// User is an account of the old server.
type User struct {
	ID       string // 32 hex; minted when empty
	Phone    string // 11 digits, as the old apps send it
	Password string // the old servers kept what they kept; the double keeps it plain
	Name     string // apiv4
	Nickname string // resultcode
	Gender   string // resultcode: "0" or "1"
	Avatar   string // resultcode
	DeviceID string // apiv4
}

type sentCode struct {
	code    string
	expires time.Time
}

// flow is resultcode's Pyramid session: the phone of the send step and
// whether a code was verified since.
type flow struct {
	phone    string
	code     string
	verified bool
	wrong    int
}

// Server is one old server. It is safe for concurrent use.
type Server struct {
	dialect string
	prefix  string
	opts    Options
	serve   func(w http.ResponseWriter, r *http.Request, path string)

	mu       sync.Mutex
	users    map[string]*User
	codes    map[string]sentCode
	flows    map[string]*flow
	files    map[string][]byte
	lastCode string
	requests map[string]int
	total    int
	delay    time.Duration
}

// New builds the double of one dialect's old server.
func New(dialect string, o Options) (*Server, error) {
	prefix, ok := DefaultPrefix[dialect]
	if !ok {
		return nil, fmt.Errorf("oldserver: unknown dialect %q", dialect)
	}
	if o.Prefix != "" {
		prefix = strings.TrimRight(o.Prefix, "/")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Token == nil {
		o.Token = randomHex32
	}
	if o.Code == nil {
		o.Code = randomDigits
	}
	if o.CodeTTL <= 0 {
		o.CodeTTL = 5 * time.Minute
	}
	s := &Server{dialect: dialect, prefix: prefix, opts: o,
		users: map[string]*User{}, codes: map[string]sentCode{}, flows: map[string]*flow{},
		files: map[string][]byte{}, requests: map[string]int{}}
	switch dialect {
	case Caraccessories:
		s.serve = s.caraccessories
	case APIv4:
		s.serve = s.apiv4
	default:
		s.serve = s.resultcode
	}
	return s, nil
}

// MustNew is New for tests: it panics on an unknown dialect.
func MustNew(dialect string, o Options) *Server {
	s, err := New(dialect, o)
	if err != nil {
		panic(err)
	}
	return s
}

// Dialect returns the dialect the server speaks.
func (s *Server) Dialect() string { return s.dialect }

// Prefix returns the mount prefix ("" for the root).
func (s *Server) Prefix() string { return s.prefix }

// ServeHTTP answers one request as the old server did. It counts every
// request, known path or not, and waits the delay set by SetDelay first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if !ok || path == "" {
		path = r.URL.Path
	}
	s.mu.Lock()
	s.total++
	s.requests[path]++
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h := w.Header()
	h.Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	h.Set("Server", serverHeader[s.dialect])
	s.serve(w, r, path)
}

// serverHeader is what each old stack called itself.
var serverHeader = map[string]string{
	Caraccessories: "Apache-Coyote/1.1",
	APIv4:          "Werkzeug/0.10.4 Python/2.7.6",
	Resultcode:     "waitress",
}

// SetDelay makes every later request wait d before it is answered (a slow
// or hung old server); 0 answers at once again.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Requests returns how many requests the server received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// RequestsTo returns how many requests went to path, relative to the
// prefix ("/login"; "/sendsms/13800000000").
func (s *Server) RequestsTo(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// AddUser registers a user directly (test set-up), replacing one with the
// same phone. It returns the user's id.
func (s *Server) AddUser(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = s.opts.Token()
	}
	s.users[u.Phone] = &u
	return u.ID
}

// User returns the account of phone (11 digits).
func (s *Server) User(phone string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[phone]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// SendCode records a fresh code for phone as the send endpoint would and
// returns it (test set-up; apiv4's old server never checks it).
func (s *Server) SendCode(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newCode(phone, codeLength[s.dialect])
}

// LastCode returns the last code the server made.
func (s *Server) LastCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCode
}

// codeLength is each document's code length (apiv4's shows none).
var codeLength = map[string]int{Caraccessories: 5, APIv4: 6, Resultcode: 4}

// newCode makes and keeps a code; s.mu is held.
func (s *Server) newCode(phone string, n int) string {
	c := s.opts.Code(n)
	s.codes[phone] = sentCode{code: c, expires: s.opts.Now().Add(s.opts.CodeTTL)}
	s.lastCode = c
	return c
}

// checkCode reports whether code is phone's pending code, and whether that
// code has expired; s.mu is held. A matching code is spent.
func (s *Server) checkCode(phone, code string) (ok, expired bool) {
	c, found := s.codes[phone]
	if !found || code == "" || c.code != code {
		return false, false
	}
	if !s.opts.Now().Before(c.expires) {
		return false, true
	}
	delete(s.codes, phone)
	return true, false
}

var mobile = regexp.MustCompile(`^1\d{10}$`)

func randomDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

func randomHex32() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
