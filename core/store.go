package core

import (
	"context"
	"io"
	"time"
)

// Store keeps what must survive a restart: users, sessions and avatars.
// Every method returns *Error values; a store that cannot answer returns
// Unavailable. A write that returned nil is durable.
type Store interface {
	// CreateUser stores a new user and, when s is not nil, its first
	// session, atomically. AlreadyRegistered if the phone is taken.
	// CreateUser and RecordLogin honour s.KeepAtMost: when it is positive,
	// the same atomic write revokes the user's oldest other sessions (by
	// CreatedAt, then token hash) until at most KeepAtMost are live at
	// s.CreatedAt, s always among them; expired ones may go too. Concurrent
	// writes for one user never leave more.
	CreateUser(ctx context.Context, u *User, s *Session) error
	// UserByPhone finds a user by E.164 phone. NotRegistered if none.
	UserByPhone(ctx context.Context, phone string) (*User, error)
	// UserByID finds a user by id. NotRegistered if none.
	UserByID(ctx context.Context, id string) (*User, error)
	// RecordLogin stores the device of a successful login and its new
	// session, and replaces the password hash when newHash is not empty
	// (parameters were raised), atomically. checkedHash is the hash the
	// password was verified against: if the stored one is another (a reset
	// or a concurrent re-hash came first), nothing is written and the error
	// is WrongPassword, so a login racing a reset can neither undo it nor
	// keep a session. NotRegistered if the user is gone.
	RecordLogin(ctx context.Context, userID, checkedHash, deviceID, newHash string, s *Session) error
	// SetPassword replaces the password hash and revokes every session of
	// the user, atomically. NotRegistered if the user is gone.
	SetPassword(ctx context.Context, userID, hash string, now time.Time) error
	// Session finds a session by token hash, and its user, in one read:
	// every authenticated request asks for both. Unauthorized if none,
	// expired at now, or its user is gone.
	Session(ctx context.Context, tokenHash [32]byte, now time.Time) (*Session, *User, error)
	// DeleteSession revokes a session. Deleting a missing one is not an error.
	DeleteSession(ctx context.Context, tokenHash [32]byte) error
	// PutAvatar stores an image under a new unique name. Its grace period
	// (DeleteUnusedAvatars) starts at the store's clock.
	PutAvatar(ctx context.Context, name, contentType string, data []byte) error
	// Avatar opens a stored image. NotFound if none.
	Avatar(ctx context.Context, name string) (contentType string, body io.ReadCloser, err error)
	// TouchAvatar restarts a stored image's grace period at now; core does
	// it just before writing a user that references the image. NotFound if
	// none, also when DeleteUnusedAvatars is deleting it concurrently:
	// either the touch or the deletion wins, never both.
	TouchAvatar(ctx context.Context, name string, now time.Time) error
	// DeleteUnusedAvatars deletes the images stored or touched before
	// before that no user references, and returns how many it deleted. A
	// user references an image when its Profile.Avatar ends in "/" and the
	// image's name. The stores call it periodically with their clock minus
	// their grace period.
	DeleteUnusedAvatars(ctx context.Context, before time.Time) (int, error)
	// CountSessions returns how many sessions of the user are live at now.
	CountSessions(ctx context.Context, userID string, now time.Time) (int, error)
	// RevokeSessions deletes every session of the user and returns how
	// many there were (expired ones included). A user without any is not
	// an error.
	RevokeSessions(ctx context.Context, userID string) (int, error)
	// DeleteUser removes the user and every session of it, atomically, and
	// returns the removed user. NotRegistered if none.
	DeleteUser(ctx context.Context, userID string) (*User, error)
	// DeleteAvatar deletes a stored image unless a user references it (see
	// DeleteUnusedAvatars), and reports whether it did. A missing image is
	// not an error.
	DeleteAvatar(ctx context.Context, name string) (bool, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close flushes and releases the store.
	Close() error
}

// EphemeralStore keeps short-lived state: codes, tickets and legacy flows.
// It may live in memory only; every record expires.
type EphemeralStore interface {
	// PutCode stores c, replacing any code pending for the same phone.
	PutCode(ctx context.Context, c *Code) error
	// CheckCode atomically checks a guess against the phone's pending code.
	// A guess matches when the stored MAC equals one of macs (compared in
	// constant time). A match consumes the code. A mismatch counts an
	// attempt; the attempt that reaches maxAttempts burns the code and
	// returns CodeBurned, as does every later check until the code expires
	// or is replaced.
	CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (CodeCheck, error)
	// PutTicket stores t, replacing any ticket of the same phone and purpose.
	PutTicket(ctx context.Context, t *Ticket) error
	// TakeTicket atomically consumes the phone's ticket for purpose when it
	// is unexpired and, if hash is not nil, has that hash. Unauthorized otherwise.
	TakeTicket(ctx context.Context, phone string, purpose Purpose, hash *[32]byte, now time.Time) error
	// PutFlow stores or replaces a flow.
	PutFlow(ctx context.Context, f *Flow) error
	// Flow finds an unexpired flow. NotFound if none.
	Flow(ctx context.Context, id string, now time.Time) (*Flow, error)
	// DeleteFlow removes a flow; a missing one is not an error.
	DeleteFlow(ctx context.Context, id string) error
	// DeletePhone removes everything pending for the phone: its code, its
	// tickets and its flows (an account's deletion).
	DeletePhone(ctx context.Context, phone string) error
}
