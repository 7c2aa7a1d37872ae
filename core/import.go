package core

import (
	"context"
	"sync"
)

// ImportRequest is a user taken over from an old server. Exactly one of
// Password and PasswordHash is set.
type ImportRequest struct {
	Phone        string
	Password     string // plain: hashed with argon2id
	PasswordHash string // a legacy or argon2id hash (see legacyhash.go), stored as is after validation
	Source       string // User.Source: SourceImported when empty, SourceMigrated for a lazy migration
	Profile      Profile
	DeviceID     string
}

// UserBatchCreator is implemented by stores that can create many users in
// one durable write (ImportUsers uses it; a store without it gets one
// CreateUser per user).
type UserBatchCreator interface {
	// CreateUsers stores new users without sessions. errs[i] is users[i]'s
	// outcome: nil (stored), or AlreadyRegistered when the phone is taken
	// by an existing user or by an earlier user of the same batch. err is
	// a failure of the whole batch, in which case no user was stored.
	CreateUsers(ctx context.Context, users []*User) (errs []error, err error)
}

// ImportUser creates a user without a verification code, for migration
// from an old server only: never expose it on a public route. It opens no
// session. A legacy hash is replaced by argon2id at the user's first
// successful login. Errors: Invalid (bad phone or field, not exactly one
// of Password and PasswordHash, malformed or unknown hash format),
// AlreadyRegistered.
func (s *Service) ImportUser(ctx context.Context, req ImportRequest) (*User, error) {
	const op = "core.ImportUser"
	u, err := s.importUser(op, req)
	if err != nil {
		return nil, err
	}
	if req.Password != "" {
		// Do not spend a hash on a phone that is taken.
		if err := s.expectRegistered(ctx, op, u.Phone, false); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = s.hash(ctx, req.Password); err != nil {
			return nil, Wrap(op, Internal, err)
		}
	}
	if err := s.store.CreateUser(ctx, u, nil); err != nil {
		return nil, Wrap(op, Internal, err)
	}
	return u, nil
}

// ImportUsers imports many users as ImportUser does, in one store write
// when the store is a UserBatchCreator; plain passwords are hashed in
// parallel (up to HashConcurrency at once), unless the phone is already
// taken. errs[i] is reqs[i]'s outcome, users[i] the created user when
// errs[i] is nil. When the whole write fails, every request that reached
// it gets that error.
func (s *Service) ImportUsers(ctx context.Context, reqs []ImportRequest) (users []*User, errs []error) {
	const op = "core.ImportUsers"
	users, errs = make([]*User, len(reqs)), make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		users[i], errs[i] = s.importUser(op, req)
		if errs[i] != nil || req.Password == "" {
			continue
		}
		// Do not spend a hash on a phone that is taken (a re-run).
		if err := s.expectRegistered(ctx, op, users[i].Phone, false); err != nil {
			users[i], errs[i] = nil, err
			continue
		}
		// The hash slots bound the parallelism; acquire here so that no
		// more goroutines than slots wait at a time. An import waits for
		// its turn as long as its context allows: it is never shed.
		if err := s.acquireWithin(ctx, 0); err != nil {
			users[i], errs[i] = nil, Wrap(op, Unavailable, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.release()
			h, err := HashPassword(req.Password, s.cfg.Hash)
			if err != nil {
				users[i], errs[i] = nil, Wrap(op, Internal, err)
				return
			}
			users[i].PasswordHash = h
		}()
	}
	wg.Wait()
	var batch []*User
	var at []int
	for i, u := range users {
		if errs[i] == nil {
			batch, at = append(batch, u), append(at, i)
		}
	}
	if len(batch) == 0 {
		return users, errs
	}
	bc, ok := s.store.(UserBatchCreator)
	if !ok {
		for j, u := range batch {
			if err := s.store.CreateUser(ctx, u, nil); err != nil {
				users[at[j]], errs[at[j]] = nil, Wrap(op, Internal, err)
			}
		}
		return users, errs
	}
	res, err := bc.CreateUsers(ctx, batch)
	for j := range batch {
		e := err
		if e == nil && j < len(res) {
			e = res[j]
		}
		if e != nil {
			users[at[j]], errs[at[j]] = nil, Wrap(op, Internal, e)
		}
	}
	return users, errs
}

// importUser validates req and builds the user; PasswordHash is left
// empty when req has a plain Password.
func (s *Service) importUser(op string, req ImportRequest) (*User, error) {
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return nil, err
	}
	if (req.Password == "") == (req.PasswordHash == "") {
		return nil, E(op, Invalid, "exactly one of password and password hash is required")
	}
	// As Register's checkFields, the password (when given) last; the hash
	// is checked below.
	if err := checkText(op, req.DeviceID, req.Profile.Name, req.Profile.Nickname, req.Profile.Avatar, req.Password); err != nil {
		return nil, err
	}
	if err := checkGender(op, req.Profile.Gender); err != nil {
		return nil, err
	}
	if req.PasswordHash != "" {
		if err := ValidateHash(req.PasswordHash); err != nil {
			return nil, &Error{Op: op, Kind: Invalid, Msg: err.Error()}
		}
	}
	id, err := newUserID()
	if err != nil {
		return nil, Wrap(op, Internal, err)
	}
	now := s.cfg.Now()
	source := req.Source
	if source == "" {
		source = SourceImported
	}
	return &User{ID: id, Phone: phone, PasswordHash: req.PasswordHash, Profile: req.Profile, DeviceID: req.DeviceID, CreatedAt: now, UpdatedAt: now, Source: source}, nil
}
