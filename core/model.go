package core

import "time"

// Purpose says what a verification code is for. A code sent for PurposeAny
// (caraccessories names none) serves both registration and reset.
type Purpose uint8

const (
	PurposeAny Purpose = iota
	PurposeRegister
	PurposeReset
	PurposeDelete // the /v1 API's account deletion (DeleteAccount)
)

var purposeNames = [...]string{PurposeAny: "any", PurposeRegister: "register", PurposeReset: "reset", PurposeDelete: "delete"}

func (p Purpose) String() string {
	if int(p) < len(purposeNames) {
		return purposeNames[p]
	}
	return "unknown"
}

// ParsePurpose is the inverse of Purpose.String.
func ParsePurpose(s string) (Purpose, bool) {
	for i, n := range purposeNames {
		if n == s {
			return Purpose(i), true
		}
	}
	return 0, false
}

// Profile is what a user tells about themselves at registration. Every
// field is optional.
type Profile struct {
	Name     string `json:"name,omitempty"`
	Nickname string `json:"nickname,omitempty"`
	Gender   string `json:"gender,omitempty"` // "0" female, "1" male, "" unknown (resultcode's values)
	Avatar   string `json:"avatar,omitempty"` // a URL path served by the gateway
}

// User is a registered account.
type User struct {
	ID           string // 32 lowercase hex (a random UUID without dashes)
	Phone        string // E.164
	PasswordHash string // PHC string, see HashPassword
	Profile
	DeviceID  string // the device of the last login or registration
	CreatedAt time.Time
	UpdatedAt time.Time
	// Source is how the account came to be: SourceRegistered,
	// SourceImported or SourceMigrated; "" for accounts stored before it
	// was recorded.
	Source string
	// LastLoginAt and LastLoginAddress are the time and client address of
	// the last login (or of the registration); zero and "" when none was
	// recorded. Stores set them from RecordLogin's session.
	LastLoginAt      time.Time
	LastLoginAddress string
}

// Session is a logged-in token. Only the SHA-256 of the token is stored.
type Session struct {
	TokenHash [32]byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// KeepAtMost, when positive, caps the user's live sessions once this
	// one is stored: CreateUser and RecordLogin revoke the user's oldest
	// others in the same atomic write, so a burst of logins cannot pile up
	// sessions. An argument only: it is not stored, and stores return 0.
	KeepAtMost int
	// Address is the client address of the login that opens the session:
	// RecordLogin stores it, with CreatedAt, as the user's LastLoginAddress
	// and LastLoginAt. An argument only, like KeepAtMost.
	Address string
}

// Code is a sent verification code. Only its MAC is stored: HMAC-SHA256(secret,
// phone|purpose|code).
type Code struct {
	Phone     string
	Purpose   Purpose
	MAC       [32]byte
	ExpiresAt time.Time
	Attempts  int  // wrong tries so far
	Burned    bool // too many wrong tries: no longer accepted
}

// CodeCheck is what a store found when checking a code.
type CodeCheck uint8

const (
	CodeMatched  CodeCheck = iota // the code matched and was consumed
	CodeMismatch                  // no match; the attempt was counted
	CodeBurned                    // this try (or an earlier one) reached the attempt limit
	CodeNone                      // no code is pending for the phone
	CodeStale                     // the pending code has expired
)

// Ticket proves a recent successful code check, for flows whose next step
// carries no code (apiv4's forget_password, resultcode's register step 2).
// Only its SHA-256 is stored. One use.
type Ticket struct {
	Hash      [32]byte
	Phone     string
	Purpose   Purpose
	ExpiresAt time.Time
}

// Flow is the server-side state of a multi-step legacy flow bound to a
// cookie (resultcode's registration), kept in the store so that any gateway
// instance can continue it.
type Flow struct {
	ID        string // the cookie value; random
	Phone     string // E.164
	Ticket    string // set once the code has been verified
	ExpiresAt time.Time
}
