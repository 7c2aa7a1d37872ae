package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/big"
	"runtime"
	"time"
	"unicode/utf8"
)

// Config holds the core's settings. Zero values take the defaults below.
type Config struct {
	Secret          []byte        // HMAC key for codes, at least 32 bytes (see LoadOrCreateSecret)
	CodeTTL         time.Duration // default 5 minutes
	TicketTTL       time.Duration // default 10 minutes
	SessionTTL      time.Duration // default 30 days
	MaxSessions     int           // live sessions per user, the oldest revoked beyond it (Session.KeepAtMost); default 20
	FlowTTL         time.Duration // default 30 minutes
	MaxCodeAttempts int           // wrong tries that burn a code; default 5
	DefaultCodeLen  int           // when a request names none; default 6
	Hash            HashParams    // default DefaultHashParams
	// HashConcurrency bounds parallel argon2id computations, each of which
	// holds Hash.MemoryKiB of memory; default GOMAXPROCS-1, at least 1, so
	// that logins filling every slot leave a core to the cheap requests
	// (docs/performance.md says what that costs in logins per second).
	HashConcurrency int
	// HashWait bounds how long a request waits for a hash slot; past it
	// the request is shed: an Unavailable error with RetryAfter set, which
	// each dialect answers as its "busy, try later" reply. Default 1s.
	// Imports (ImportUsers) wait as long as their context allows.
	HashWait time.Duration
	// ObserveHashWait, when set, is told how long each request waited for
	// a hash slot, and whether it was shed (having waited HashWait); the
	// metrics package feeds it to a histogram and a counter.
	ObserveHashWait func(wait time.Duration, shed bool)
	Sender          Sender
	// TestPhones get a fixed code that is never sent, and no SMS limit.
	TestPhones []TestPhone
	// SMSCountries are the calling codes ("+86") codes may be sent to;
	// empty allows every country.
	SMSCountries []string
	Guard        Guard            // rate limits and locks; nil allows everything
	Now          func() time.Time // default time.Now; tests inject a clock
	Log          *slog.Logger

	// Audit receives every security event (audit.go); nil records none.
	Audit AuditSink

	// TraceHash, when set, is called as each password hash ("hash") or
	// check ("verify") starts, the wait for a hashing slot included, and
	// returns the function to call when it ends: tracing hooks in here
	// (gateway/tracing), so the core does not depend on OpenTelemetry.
	TraceHash func(ctx context.Context, op string) (end func())
}

const (
	minCodeLen   = 4
	maxCodeLen   = 10
	maxFieldLen  = 256 // bytes, for passwords, names and device ids
	maxAvatarLen = 5 << 20
)

// Service is the one implementation of the gateway's operations. Every
// dialect and the /v1 API call it. It is safe for concurrent use.
type Service struct {
	store     Store
	eph       EphemeralStore
	cfg       Config
	hashSlots chan struct{}
	dummyHash string // spent on logins for unknown phones, so timing reveals nothing
}

// New builds a Service.
func New(store Store, eph EphemeralStore, cfg Config) (*Service, error) {
	if len(cfg.Secret) < 32 {
		return nil, E("core.New", Invalid, "secret must be at least 32 bytes")
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 5 * time.Minute
	}
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 30 * 24 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 20
	}
	if cfg.FlowTTL <= 0 {
		cfg.FlowTTL = 30 * time.Minute
	}
	if cfg.MaxCodeAttempts <= 0 {
		cfg.MaxCodeAttempts = 5
	}
	if cfg.DefaultCodeLen == 0 {
		cfg.DefaultCodeLen = 6
	}
	if cfg.Hash == (HashParams{}) {
		cfg.Hash = DefaultHashParams
	}
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = DefaultHashConcurrency()
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = DefaultHashWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Sender == nil {
		cfg.Sender = LogSender{Log: cfg.Log}
	}
	if cfg.Guard == nil {
		cfg.Guard = noGuard{}
	}
	s := &Service{store: store, eph: eph, cfg: cfg, hashSlots: make(chan struct{}, cfg.HashConcurrency)}
	dummy, err := HashPassword("dummy password for unknown phones", cfg.Hash)
	if err != nil {
		return nil, Wrap("core.New", Internal, err)
	}
	s.dummyHash = dummy
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// guard is the configured Guard, or none for a shadow replay.
func (s *Service) guard(ctx context.Context) Guard {
	if isShadow(ctx) {
		return noGuard{}
	}
	return s.cfg.Guard
}

// Ping reports whether the durable store answers.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

// SendCodeRequest asks for a verification code by SMS.
type SendCodeRequest struct {
	Phone   string
	Purpose Purpose // Register requires an unregistered phone, Reset a registered one, Any neither
	Length  int     // digits; 0 takes the default
	Dialect string  // who asked, passed to the SMS sender
}

// SendCodeResult is a sent code. Code is returned only so that a legacy
// contract that echoes it (resultcode, behind a switch) can; never log it.
type SendCodeResult struct {
	Phone     string // E.164
	Code      string
	ExpiresAt time.Time
}

// SendCode generates a code, stores its MAC (replacing any pending code for
// the phone) and sends it. Errors: Invalid, AlreadyRegistered (Register),
// NotRegistered (Reset), SMSFailed.
func (s *Service) SendCode(ctx context.Context, req SendCodeRequest) (*SendCodeResult, error) {
	const op = "core.SendCode"
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return nil, err
	}
	n := req.Length
	if n == 0 {
		n = s.cfg.DefaultCodeLen
	}
	if n < minCodeLen || n > maxCodeLen {
		return nil, E(op, Invalid, "code length out of range")
	}
	if req.Purpose != PurposeAny {
		if err := s.allowLookup(ctx, phone); err != nil {
			return nil, err
		}
		if err := s.expectRegistered(ctx, op, phone, req.Purpose == PurposeReset || req.Purpose == PurposeDelete); err != nil {
			return nil, err
		}
	}
	code, test := codeFor(s.cfg.TestPhones, phone, n)
	if !test {
		if !countryAllowed(s.cfg.SMSCountries, phone) {
			return nil, E(op, Invalid, "codes are not sent to this country")
		}
		// After the registration check: a refused send spends no SMS budget.
		if err := s.guard(ctx).AllowSend(ctx, phone); err != nil {
			return nil, err
		}
		if code, err = randomDigits(n); err != nil {
			return nil, Wrap(op, Internal, err)
		}
	}
	now := s.cfg.Now()
	c := &Code{Phone: phone, Purpose: req.Purpose, MAC: s.codeMAC(phone, req.Purpose, ClientDialect(ctx), code), ExpiresAt: now.Add(s.cfg.CodeTTL)}
	if err := s.eph.PutCode(ctx, c); err != nil {
		return nil, Wrap(op, Internal, err)
	}
	if test {
		return &SendCodeResult{Phone: phone, Code: code, ExpiresAt: c.ExpiresAt}, nil
	}
	if err := s.cfg.Sender.Send(ctx, SMS{Phone: phone, Code: code, Purpose: req.Purpose.String(), Dialect: req.Dialect}); err != nil {
		s.cfg.Log.Error("sms send failed", "phone", MaskPhone(phone), "dialect", req.Dialect, "err", err)
		// A provider that says the number is over its own limit, or not a
		// number it serves, is answered as such; anything else is a
		// failed send.
		if k := KindOf(err); k == RateLimited || k == Invalid {
			return nil, err
		}
		return nil, &Error{Op: op, Kind: SMSFailed, Err: err}
	}
	return &SendCodeResult{Phone: phone, Code: code, ExpiresAt: c.ExpiresAt}, nil
}

// expectRegistered fails with NotRegistered or AlreadyRegistered unless the
// phone's registration is as wanted.
func (s *Service) expectRegistered(ctx context.Context, op, phone string, want bool) error {
	got, err := s.registered(ctx, op, phone)
	if err != nil {
		return err
	}
	switch {
	case want && !got:
		return E(op, NotRegistered, "phone not registered")
	case !want && got:
		return E(op, AlreadyRegistered, "phone already registered")
	}
	return nil
}

func (s *Service) registered(ctx context.Context, op, phone string) (bool, error) {
	_, err := s.store.UserByPhone(ctx, phone)
	switch {
	case err == nil:
		return true, nil
	case KindOf(err) == NotRegistered:
		return false, nil
	default:
		return false, Wrap(op, Internal, err)
	}
}

// allowLookup applies the per-address limit on registration look-ups to
// phone (E.164), except to test numbers (GATEWAY_TEST_PHONES): whether one
// of them is registered tells nothing about a user, and `contract verify`
// looks many of them up from one address (contracts/GOLDEN-FORMAT.md).
// Every other phone is counted as before.
func (s *Service) allowLookup(ctx context.Context, phone string) error {
	if _, test := codeFor(s.cfg.TestPhones, phone, maxCodeLen); test {
		return nil
	}
	return s.guard(ctx).AllowLookup(ctx)
}

// IsRegistered reports whether a user has the phone. Errors: Invalid.
func (s *Service) IsRegistered(ctx context.Context, phone string) (bool, error) {
	const op = "core.IsRegistered"
	p, err := NormalizePhone(phone)
	if err != nil {
		return false, err
	}
	if err := s.allowLookup(ctx, p); err != nil {
		return false, err
	}
	return s.registered(ctx, op, p)
}

// VerifyCodeRequest checks a code on its own, for flows whose next step
// carries no code.
type VerifyCodeRequest struct {
	Phone   string
	Purpose Purpose
	Code    string
	// ForRecentCheck makes the ticket one that Proof.RecentCheck accepts:
	// bound to the client's address (core.ClientIP) and Binding instead of
	// a secret value, and short-lived (RecentCheckTTL), for apiv4's
	// forget_password, whose step 2 carries nothing. The returned ticket
	// value is then "".
	ForRecentCheck bool
	// Binding is what else identifies the client (apiv4: its device id and
	// User-Agent); Proof.Binding must repeat it. An address alone is shared
	// by everyone behind one NAT.
	Binding string
}

// RecentCheckTTL is how long a ForRecentCheck verification stays usable:
// step 2 follows step 1 within seconds in the app, and every minute more is
// a minute for someone behind the same address to try.
const RecentCheckTTL = 2 * time.Minute

// recentCheckHash binds a recent-check ticket to the client's address and
// binding: the step that takes it must come from the same address with the
// same binding. An address holds no NUL, so no split of the two strings
// collides with another. A ticket from VerifyCode without ForRecentCheck has
// a random value's hash, so no request can take it this way.
func recentCheckHash(ctx context.Context, binding string) [32]byte {
	return sha256.Sum256([]byte("recent-check|" + ClientIP(ctx) + "\x00" + binding))
}

// VerifyCode consumes a correct code and returns a one-use ticket for the
// next step (see Proof). Errors: Invalid, CodeWrong, CodeExpired, TooManyAttempts.
func (s *Service) VerifyCode(ctx context.Context, req VerifyCodeRequest) (string, error) {
	const op = "core.VerifyCode"
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return "", err
	}
	if err := s.checkCode(ctx, op, phone, req.Purpose, req.Code); err != nil {
		return "", err
	}
	t := &Ticket{Phone: phone, Purpose: req.Purpose, ExpiresAt: s.cfg.Now().Add(s.cfg.TicketTTL)}
	var ticket string
	if req.ForRecentCheck {
		t.Hash, t.ExpiresAt = recentCheckHash(ctx, req.Binding), s.cfg.Now().Add(min(RecentCheckTTL, s.cfg.TicketTTL))
	} else if ticket, t.Hash, err = newSecret(); err != nil {
		return "", Wrap(op, Internal, err)
	}
	if err := s.eph.PutTicket(ctx, t); err != nil {
		return "", Wrap(op, Internal, err)
	}
	return ticket, nil
}

// Proof is what a register or reset step shows for owning the phone: a
// code, or a ticket from VerifyCode.
type Proof struct {
	Code   string
	Ticket string
	// RecentCheck accepts the phone's ticket from a VerifyCode with
	// ForRecentCheck, made for the same client address and Binding. Only
	// for apiv4's forget_password, whose step 2 carries nothing: the ticket
	// is one-use, bound to the phone, the address and the binding, and
	// short-lived. A request that does not match leaves it to its owner.
	RecentCheck bool
	Binding     string // with RecentCheck: VerifyCodeRequest.Binding
}

func (s *Service) checkProof(ctx context.Context, op, phone string, purpose Purpose, p Proof) error {
	now := s.cfg.Now()
	switch {
	case p.Ticket != "":
		h := sha256.Sum256([]byte(p.Ticket))
		return s.eph.TakeTicket(ctx, phone, purpose, &h, now)
	case p.RecentCheck:
		h := recentCheckHash(ctx, p.Binding)
		return s.eph.TakeTicket(ctx, phone, purpose, &h, now)
	case p.Code != "":
		return s.checkCode(ctx, op, phone, purpose, p.Code)
	}
	return E(op, Invalid, "a code is required")
}

func (s *Service) checkCode(ctx context.Context, op, phone string, purpose Purpose, code string) error {
	if code == "" {
		return E(op, Invalid, "a code is required")
	}
	attempt, err := s.guard(ctx).BeginCodeCheck(ctx, phone)
	if err != nil {
		return err
	}
	// A code is accepted only by the dialect that sent it (codeMAC), so
	// the weakest dialect's code length does not set every account's.
	dialect := ClientDialect(ctx)
	macs := [][32]byte{s.codeMAC(phone, purpose, dialect, code)}
	if purpose != PurposeAny {
		macs = append(macs, s.codeMAC(phone, PurposeAny, dialect, code))
	}
	res, err := s.eph.CheckCode(ctx, phone, macs, s.cfg.Now(), s.cfg.MaxCodeAttempts)
	if err != nil {
		attempt.Cancel(ctx)
		return Wrap(op, Internal, err)
	}
	switch res {
	case CodeMatched:
		attempt.Succeeded(ctx)
		return nil
	case CodeMismatch:
		attempt.Failed(ctx)
		return E(op, CodeWrong, "wrong code")
	case CodeBurned:
		attempt.Failed(ctx)
		return E(op, TooManyAttempts, "too many wrong codes")
	case CodeStale:
		attempt.Cancel(ctx) // nothing was guessed
		return E(op, CodeExpired, "code expired")
	}
	attempt.Cancel(ctx) // no code pending: nothing was guessed
	return E(op, CodeWrong, "wrong code")
}

// codeMAC binds a code to its phone, its purpose and the dialect that
// sent it ("" outside the gateway).
func (s *Service) codeMAC(phone string, purpose Purpose, dialect, code string) [32]byte {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte(phone))
	m.Write([]byte{'|'})
	m.Write([]byte(purpose.String()))
	m.Write([]byte{'|'})
	m.Write([]byte(dialect))
	m.Write([]byte{'|'})
	m.Write([]byte(code))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// RegisterRequest creates an account.
type RegisterRequest struct {
	Phone    string
	Password string
	Proof    Proof
	Profile  Profile
	DeviceID string
}

// LoginResult is a new session.
type LoginResult struct {
	User          User
	Token         string // 32 lowercase hex; only its SHA-256 is stored
	ExpiresAt     time.Time
	DeviceChanged bool // the device differs from the one of the last login
}

// Register creates a user and logs it in. The registered check comes
// before the proof, so a taken phone does not burn a code attempt.
// Errors: Invalid, AlreadyRegistered, CodeWrong, CodeExpired,
// TooManyAttempts, Unauthorized (bad ticket).
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*LoginResult, error) {
	const op = "core.Register"
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return nil, err
	}
	if err := checkFields(op, req.Password, req.DeviceID, req.Profile.Name, req.Profile.Nickname, req.Profile.Avatar); err != nil {
		return nil, err
	}
	if err := checkGender(op, req.Profile.Gender); err != nil {
		return nil, err
	}
	// The answer reveals whether the phone is registered, code or not.
	if err := s.allowLookup(ctx, phone); err != nil {
		return nil, err
	}
	if err := s.expectRegistered(ctx, op, phone, false); err != nil {
		return nil, err
	}
	// Before the proof, so a bad avatar does not spend the code or ticket.
	if err := s.claimAvatar(ctx, op, req.Profile.Avatar); err != nil {
		return nil, err
	}
	if err := s.checkProof(ctx, op, phone, PurposeRegister, req.Proof); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, req.Password)
	if err != nil {
		return nil, Wrap(op, Internal, err)
	}
	id, err := newUserID()
	if err != nil {
		return nil, Wrap(op, Internal, err)
	}
	now := s.cfg.Now()
	u := &User{ID: id, Phone: phone, PasswordHash: hash, Profile: req.Profile, DeviceID: req.DeviceID, CreatedAt: now, UpdatedAt: now,
		Source: SourceRegistered, LastLoginAt: now, LastLoginAddress: ClientIP(ctx)}
	token, sess, err := s.newSession(id, now)
	if err != nil {
		return nil, Wrap(op, Internal, err)
	}
	if err := s.store.CreateUser(ctx, u, sess); err != nil {
		return nil, Wrap(op, Internal, err)
	}
	s.audit(ctx, AuditEvent{Type: AuditRegistered, Outcome: AuditOK, UserID: u.ID, Device: u.DeviceID}, phone)
	return &LoginResult{User: *u, Token: token, ExpiresAt: sess.ExpiresAt}, nil
}

// LoginRequest logs a user in.
type LoginRequest struct {
	Phone    string
	Password string
	DeviceID string // empty keeps the stored device and reports no change
}

// Login checks the password and opens a session. An unknown phone still
// costs one hash. A hash made with older parameters is replaced.
// Errors: Invalid, NotRegistered, WrongPassword.
func (s *Service) Login(ctx context.Context, req LoginRequest) (res *LoginResult, err error) {
	const op = "core.Login"
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return nil, err
	}
	defer func() { s.auditLogin(ctx, phone, req.DeviceID, res, err) }()
	if err := checkFields(op, req.Password, req.DeviceID); err != nil {
		return nil, err
	}
	// Before the hash: a locked phone costs no CPU, and the attempt holds
	// its slot while the hash runs, so a burst cannot pass the lock
	// together. Unknown phones count failures too, so a lock does not
	// reveal registration.
	attempt, err := s.guard(ctx).BeginLogin(ctx, phone, req.DeviceID)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByPhone(ctx, phone)
	if err != nil {
		if KindOf(err) == NotRegistered {
			if _, _, err := s.verify(ctx, req.Password, s.dummyHash); err != nil {
				// Shed, or the client left: answered as for a known
				// phone, so that the answer reveals no registration.
				attempt.Cancel(ctx)
				return nil, Wrap(op, Internal, err)
			}
			attempt.Failed(ctx)
			return nil, E(op, NotRegistered, "phone not registered")
		}
		attempt.Cancel(ctx)
		return nil, Wrap(op, Internal, err)
	}
	ok, stale, err := s.verify(ctx, req.Password, u.PasswordHash)
	if err != nil {
		attempt.Cancel(ctx)
		return nil, Wrap(op, Internal, err)
	}
	if !ok {
		attempt.Failed(ctx)
		return nil, E(op, WrongPassword, "wrong password")
	}
	var newHash string
	if stale {
		// A re-hash that is shed leaves the old hash for a later login:
		// the password was checked, and the login stands.
		if h, herr := s.hash(ctx, req.Password); herr == nil {
			newHash = h
		} else if KindOf(herr) != Unavailable {
			attempt.Cancel(ctx)
			return nil, Wrap(op, Internal, herr)
		}
	}
	changed := req.DeviceID != "" && u.DeviceID != "" && req.DeviceID != u.DeviceID
	device := u.DeviceID
	if req.DeviceID != "" {
		device = req.DeviceID
	}
	now := s.cfg.Now()
	token, sess, err := s.newSession(u.ID, now)
	if err != nil {
		attempt.Cancel(ctx)
		return nil, Wrap(op, Internal, err)
	}
	sess.Address = ClientIP(ctx)
	// The store compares u.PasswordHash with the stored hash in its write:
	// a reset that landed while this password was being checked wins, and
	// this login answers WrongPassword with no session. Only a stored
	// login is a success for the guard (it forgets the client's failures
	// and makes it known).
	if err := s.store.RecordLogin(ctx, u.ID, u.PasswordHash, device, newHash, sess); err != nil {
		if KindOf(err) == WrongPassword {
			attempt.Failed(ctx)
		} else {
			attempt.Cancel(ctx)
		}
		return nil, Wrap(op, Internal, err)
	}
	attempt.Succeeded(ctx)
	u.DeviceID = device
	u.LastLoginAt, u.LastLoginAddress = now, sess.Address
	if newHash != "" {
		u.PasswordHash = newHash
	}
	return &LoginResult{User: *u, Token: token, ExpiresAt: sess.ExpiresAt, DeviceChanged: changed}, nil
}

// ResetRequest sets a new password.
type ResetRequest struct {
	Phone    string
	Password string
	Proof    Proof
}

// ResetPassword replaces the password and revokes every session of the
// user. Errors: Invalid, NotRegistered, CodeWrong, CodeExpired,
// TooManyAttempts, Unauthorized (bad or missing ticket).
func (s *Service) ResetPassword(ctx context.Context, req ResetRequest) (err error) {
	const op = "core.ResetPassword"
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return err
	}
	var userID string
	defer func() { s.auditReset(ctx, phone, userID, err) }()
	if err := checkFields(op, req.Password); err != nil {
		return err
	}
	// The answer reveals whether the phone is registered, code or not.
	if err := s.allowLookup(ctx, phone); err != nil {
		return err
	}
	u, err := s.store.UserByPhone(ctx, phone)
	if err != nil {
		return Wrap(op, Internal, err)
	}
	userID = u.ID
	if err := s.checkProof(ctx, op, phone, PurposeReset, req.Proof); err != nil {
		return err
	}
	hash, err := s.hash(ctx, req.Password)
	if err != nil {
		return Wrap(op, Internal, err)
	}
	return Wrap(op, Internal, s.store.SetPassword(ctx, u.ID, hash, s.cfg.Now()))
}

// Authenticate returns the user and session of a token. Errors: Unauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (*User, *Session, error) {
	const op = "core.Authenticate"
	if !isToken(token) {
		return nil, nil, E(op, Unauthorized, "invalid token")
	}
	sess, u, err := s.store.Session(ctx, sha256.Sum256([]byte(token)), s.cfg.Now())
	if err != nil {
		return nil, nil, Wrap(op, Internal, err)
	}
	return u, sess, nil
}

// Logout revokes a token. Errors: Unauthorized when the token is not a
// live session.
func (s *Service) Logout(ctx context.Context, token string) error {
	const op = "core.Logout"
	if _, _, err := s.Authenticate(ctx, token); err != nil {
		return err
	}
	return Wrap(op, Internal, s.store.DeleteSession(ctx, sha256.Sum256([]byte(token))))
}

// StartFlow begins a cookie-bound legacy flow for a phone and returns it.
func (s *Service) StartFlow(ctx context.Context, phone string) (*Flow, error) {
	const op = "core.StartFlow"
	p, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	id, _, err := newSecret()
	if err != nil {
		return nil, Wrap(op, Internal, err)
	}
	f := &Flow{ID: id, Phone: p, ExpiresAt: s.cfg.Now().Add(s.cfg.FlowTTL)}
	return f, Wrap(op, Internal, s.eph.PutFlow(ctx, f))
}

// Flow returns a live flow. Errors: NotFound.
func (s *Service) Flow(ctx context.Context, id string) (*Flow, error) {
	if !isToken(id) {
		return nil, E("core.Flow", NotFound, "no such flow")
	}
	return s.eph.Flow(ctx, id, s.cfg.Now())
}

// SaveFlow stores a changed flow, extending its life.
func (s *Service) SaveFlow(ctx context.Context, f *Flow) error {
	f.ExpiresAt = s.cfg.Now().Add(s.cfg.FlowTTL)
	return Wrap("core.SaveFlow", Internal, s.eph.PutFlow(ctx, f))
}

// EndFlow removes a flow.
func (s *Service) EndFlow(ctx context.Context, id string) error {
	return Wrap("core.EndFlow", Internal, s.eph.DeleteFlow(ctx, id))
}

func (s *Service) newSession(userID string, now time.Time) (string, *Session, error) {
	token, hash, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	return token, &Session{TokenHash: hash, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), KeepAtMost: s.cfg.MaxSessions}, nil
}

// hash and verify bound how many argon2id computations run at once, since
// each holds Hash.MemoryKiB.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	defer s.traceHash(ctx, "hash")()
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return HashPassword(password, s.cfg.Hash)
}

func (s *Service) verify(ctx context.Context, password, phc string) (ok, stale bool, err error) {
	defer s.traceHash(ctx, "verify")()
	if err := s.acquire(ctx); err != nil {
		return false, false, err
	}
	defer s.release()
	return VerifyPassword(password, phc, s.cfg.Hash)
}

// DefaultHashConcurrency is HashConcurrency's default: GOMAXPROCS-1, at
// least 1.
func DefaultHashConcurrency() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// DefaultHashWait is HashWait's default.
const DefaultHashWait = time.Second

// acquire takes a hash slot, waiting at most HashWait: past it the request
// is shed (Unavailable, with RetryAfter), so a login storm is answered fast instead of queueing
// until clients give up and retry.
func (s *Service) acquire(ctx context.Context) error {
	return s.acquireWithin(ctx, s.cfg.HashWait)
}

// acquireWithin takes a hash slot, waiting at most bound (no bound when
// bound <= 0, for imports). Waiters are served first come, first served
// (a channel's senders queue in order).
func (s *Service) acquireWithin(ctx context.Context, bound time.Duration) error {
	select {
	case s.hashSlots <- struct{}{}:
		s.observeWait(0, false)
		return nil
	default:
	}
	start := time.Now()
	var expired <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		expired = t.C
	}
	select {
	case s.hashSlots <- struct{}{}:
		s.observeWait(time.Since(start), false)
		return nil
	case <-expired:
		s.observeWait(time.Since(start), true)
		return &Error{Op: "core.hash", Kind: Unavailable, Msg: "too many password checks at once; try again shortly", RetryAfter: bound}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) observeWait(d time.Duration, shed bool) {
	if s.cfg.ObserveHashWait != nil {
		s.cfg.ObserveHashWait(d, shed)
	}
}

func (s *Service) release() { <-s.hashSlots }

// checkFields wants a password and checks it and the others as text.
func checkFields(op, password string, others ...string) error {
	if password == "" {
		return E(op, Invalid, "a password is required")
	}
	return checkText(op, append(others, password)...)
}

// checkGender accepts the two genders the apps send, or none.
func checkGender(op, g string) error {
	if g != "" && g != "0" && g != "1" {
		return E(op, Invalid, `gender must be "0" or "1"`)
	}
	return nil
}

// checkText bounds free-text fields and wants them valid UTF-8.
func checkText(op string, fields ...string) error {
	for _, f := range fields {
		if len(f) > maxFieldLen {
			return E(op, Invalid, "field too long")
		}
		if !utf8.ValidString(f) {
			return E(op, Invalid, "field is not valid UTF-8")
		}
	}
	return nil
}

// newSecret returns 16 random bytes as 32 lowercase hex, and the SHA-256
// of that text (what stores keep).
func newSecret() (string, [32]byte, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, err
	}
	s := hex.EncodeToString(b[:])
	return s, sha256.Sum256([]byte(s)), nil
}

// newUserID returns a random (version 4) UUID as 32 lowercase hex.
func newUserID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:]), nil
}

func isToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var ten = big.NewInt(10)

func randomDigits(n int) (string, error) {
	b := make([]byte, n)
	for i := range b {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", err
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b), nil
}
