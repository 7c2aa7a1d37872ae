package core

import (
	"context"
	"strconv"
	"time"
)

// How an account came to be (User.Source).
const (
	SourceRegistered = "registered" // signed up through a dialect or /v1
	SourceImported   = "imported"   // `gateway import`
	SourceMigrated   = "migrated"   // lazily, at its first login, from an old server
)

// LockInfo is one lock on a phone: a failure budget that refuses the next
// attempt until Until.
type LockInfo struct {
	Limit    string    `json:"limit"`    // the rule: "login_phone", "code_phone"
	Pool     string    `json:"pool"`     // "shared", or the known client's kind: "device", "address"
	Failures int64     `json:"failures"` // failures in the window
	Until    time.Time `json:"until"`
}

// LockAdmin is implemented by a Guard whose locks operators can see and
// clear (core/limits).
type LockAdmin interface {
	// Locks lists the phone's login and code locks in force.
	Locks(ctx context.Context, phone string) ([]LockInfo, error)
	// Unlock forgets the phone's login and code failures, in every pool.
	Unlock(ctx context.Context, phone string) error
	// Forget drops everything kept under the phone (budgets, known
	// clients): an account's deletion.
	Forget(ctx context.Context, phone string) error
}

// UserInfo is what an operator sees of an account: never a hash, a code
// or a token, and the phone and address masked.
type UserInfo struct {
	UserID           string     `json:"user_id"`
	Phone            string     `json:"phone"` // masked
	RegisteredAt     time.Time  `json:"registered_at"`
	LastLoginAt      *time.Time `json:"last_login_at"`
	LastLoginAddress string     `json:"last_login_address"` // masked
	Device           string     `json:"device"`
	Sessions         int        `json:"sessions"`
	Locked           bool       `json:"locked"`
	LockedUntil      *time.Time `json:"locked_until"`
	Locks            []LockInfo `json:"locks"`
	Source           string     `json:"source"` // "unknown" for accounts stored before it was recorded
	HashFormat       string     `json:"hash_format"`
}

// adminUser looks up the user an admin operation names.
func (s *Service) adminUser(ctx context.Context, op, raw string) (string, *User, error) {
	phone, err := NormalizePhone(raw)
	if err != nil {
		return "", nil, err
	}
	u, err := s.store.UserByPhone(ctx, phone)
	if err != nil {
		return phone, nil, Wrap(op, Internal, err)
	}
	return phone, u, nil
}

// adminAudit records an operator's action on a phone.
func (s *Service) adminAudit(ctx context.Context, action, phone string, u *User, err error, detail string) {
	e := AuditEvent{Type: AuditAdmin, Action: action, Outcome: auditOutcome(err), Detail: detail}
	if u != nil {
		e.UserID = u.ID
	}
	s.audit(ctx, e, phone)
}

// UserInfo shows an account to an operator. Errors: Invalid, NotRegistered.
func (s *Service) UserInfo(ctx context.Context, phone string) (*UserInfo, error) {
	const op = "core.UserInfo"
	p, u, err := s.adminUser(ctx, op, phone)
	if err != nil {
		if p != "" {
			s.adminAudit(ctx, "show", p, nil, err, "")
		}
		return nil, err
	}
	now := s.cfg.Now()
	info := &UserInfo{
		UserID: u.ID, Phone: MaskPhone(u.Phone), RegisteredAt: u.CreatedAt, Device: u.DeviceID,
		Source: u.Source, Locks: []LockInfo{},
	}
	if info.Source == "" {
		info.Source = "unknown"
	}
	if !u.LastLoginAt.IsZero() {
		t := u.LastLoginAt
		info.LastLoginAt = &t
	}
	if u.LastLoginAddress != "" {
		info.LastLoginAddress = MaskAddress(u.LastLoginAddress)
	}
	if info.HashFormat, err = HashFormat(u.PasswordHash); err != nil {
		info.HashFormat = "malformed"
	}
	if info.Sessions, err = s.store.CountSessions(ctx, u.ID, now); err != nil {
		return nil, Wrap(op, Internal, err)
	}
	if la, ok := s.cfg.Guard.(LockAdmin); ok {
		locks, err := la.Locks(ctx, p)
		if err != nil {
			return nil, Wrap(op, Unavailable, err)
		}
		info.Locks = append(info.Locks, locks...)
		for _, l := range locks {
			if info.LockedUntil == nil || l.Until.After(*info.LockedUntil) {
				t := l.Until
				info.LockedUntil = &t
			}
		}
		info.Locked = info.LockedUntil != nil
	}
	s.adminAudit(ctx, "show", p, u, nil, "")
	return info, nil
}

// Unlock clears the phone's login and code locks (the phone need not be
// registered: unknown phones are locked too). Errors: Invalid,
// Unavailable (no lock store, or it failed).
func (s *Service) Unlock(ctx context.Context, phone string) error {
	const op = "core.Unlock"
	p, err := NormalizePhone(phone)
	if err != nil {
		return err
	}
	u, _ := s.store.UserByPhone(ctx, p)
	la, ok := s.cfg.Guard.(LockAdmin)
	if !ok {
		err = E(op, Unavailable, "no limits are configured, so nothing is locked")
	} else if err = la.Unlock(ctx, p); err != nil {
		err = Wrap(op, Unavailable, err)
	}
	s.adminAudit(ctx, "unlock", p, u, err, "")
	return err
}

// RevokeAllSessions logs an account out everywhere and returns how many
// sessions went. Errors: Invalid, NotRegistered.
func (s *Service) RevokeAllSessions(ctx context.Context, phone string) (int, error) {
	const op = "core.RevokeAllSessions"
	p, u, err := s.adminUser(ctx, op, phone)
	if err != nil {
		if p != "" {
			s.adminAudit(ctx, "logout", p, nil, err, "")
		}
		return 0, err
	}
	n, err := s.store.RevokeSessions(ctx, u.ID)
	err = Wrap(op, Internal, err)
	s.adminAudit(ctx, "logout", p, u, err, strconv.Itoa(n)+" sessions")
	return n, err
}

// AdminDeleteUser deletes an account for an operator (see deleteUser).
// Errors: Invalid, NotRegistered.
func (s *Service) AdminDeleteUser(ctx context.Context, phone string) error {
	const op = "core.AdminDeleteUser"
	p, u, err := s.adminUser(ctx, op, phone)
	if err == nil {
		err = s.deleteUser(ctx, op, u)
	}
	if p != "" {
		s.adminAudit(ctx, "delete", p, u, err, "")
	}
	return err
}

// DeleteAccountRequest is an account's deletion by its owner: a live
// session's token, and the password or a code sent for PurposeDelete.
type DeleteAccountRequest struct {
	Token    string
	Password string
	Code     string
}

// DeleteAccount deletes the account of a session, which proves itself
// again with its password or a fresh code. Errors: Unauthorized (no live
// session), Invalid (neither or both of password and code), WrongPassword,
// CodeWrong, CodeExpired, TooManyAttempts, RateLimited.
func (s *Service) DeleteAccount(ctx context.Context, req DeleteAccountRequest) error {
	const op = "core.DeleteAccount"
	u, _, err := s.Authenticate(ctx, req.Token)
	if err != nil {
		return err
	}
	if (req.Password == "") == (req.Code == "") {
		return E(op, Invalid, "send either a password or a code")
	}
	if err := checkText(op, req.Password, req.Code); err != nil {
		return err
	}
	e := AuditEvent{Type: AuditAccountDeleted, UserID: u.ID, Device: u.DeviceID}
	if req.Code != "" {
		err = s.checkCode(ctx, op, u.Phone, PurposeDelete, req.Code)
		e.Detail = "code"
	} else {
		err = s.checkAccountPassword(ctx, op, u, req.Password)
		e.Detail = "password"
	}
	if err == nil {
		err = s.deleteUser(ctx, op, u)
	}
	e.Outcome = auditOutcome(err)
	if KindOf(err) == RateLimited {
		e.Type, e.Detail = AuditLocked, limitName(err)
	}
	s.audit(ctx, e, u.Phone)
	return err
}

// checkAccountPassword checks a password as Login does: a slot of the
// phone's login budget is taken first, so deletion is no way around the
// brute-force locks.
func (s *Service) checkAccountPassword(ctx context.Context, op string, u *User, password string) error {
	attempt, err := s.guard(ctx).BeginLogin(ctx, u.Phone, "")
	if err != nil {
		return err
	}
	ok, _, err := s.verify(ctx, password, u.PasswordHash)
	switch {
	case err != nil:
		attempt.Cancel(ctx)
		return Wrap(op, Internal, err)
	case !ok:
		attempt.Failed(ctx)
		return E(op, WrongPassword, "wrong password")
	}
	attempt.Succeeded(ctx)
	return nil
}

// deleteUser removes the user and its sessions, then its avatar (unless
// another user references it), what is pending for its phone (codes,
// tickets and flows) and what the limits keep under it.
func (s *Service) deleteUser(ctx context.Context, op string, u *User) error {
	if _, err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return Wrap(op, Internal, err)
	}
	// The user is gone: what follows is clean-up, done even when the
	// client went away.
	ctx = context.WithoutCancel(ctx)
	if name, ok := AvatarName(u.Avatar); ok {
		if _, err := s.store.DeleteAvatar(ctx, name); err != nil {
			s.cfg.Log.Error("account deletion: the avatar stays until the sweep", "user_id", u.ID, "err", err)
		}
	}
	if err := s.eph.DeletePhone(ctx, u.Phone); err != nil {
		s.cfg.Log.Error("account deletion: pending codes and flows stay until they expire", "user_id", u.ID, "err", err)
	}
	if la, ok := s.cfg.Guard.(LockAdmin); ok {
		if err := la.Forget(ctx, u.Phone); err != nil {
			s.cfg.Log.Error("account deletion: the phone's rate-limit records stay until they expire", "user_id", u.ID, "err", err)
		}
	}
	return nil
}

// limitName is the name of the limit that refused err, "" when none.
func limitName(err error) string {
	if l := LimitOf(err); l != nil {
		return l.Name
	}
	return ""
}

// AuditTrail returns a phone's stored audit events of the last days days
// (the retention when 0), found by its keyed hash: the events of a
// deleted account too. It is itself an admin action. Errors: Invalid,
// Unavailable (no audit store).
func (s *Service) AuditTrail(ctx context.Context, phone string, days int) ([]AuditEvent, error) {
	p, err := NormalizePhone(phone)
	if err != nil {
		return nil, err
	}
	al, ok := s.cfg.Audit.(interface {
		Events(ctx context.Context, phoneKey string, days int) ([]AuditEvent, error)
	})
	if !ok {
		return nil, E("core.AuditTrail", Unavailable, "no audit store is configured")
	}
	ev, err := al.Events(ctx, s.PhoneKey(p), days)
	s.adminAudit(ctx, "audit", p, nil, err, "")
	return ev, err
}
