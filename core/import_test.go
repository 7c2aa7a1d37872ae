package core_test

import (
	"context"
	"strings"
	"testing"

	"legacyauth/core"
)

func TestImportUser(t *testing.T) {
	ctx := context.Background()
	md5pw := "$legacy$md5$5f4dcc3b5aa765d61d8327deb882cf99" // "password"

	t.Run("Hash", func(t *testing.T) {
		h := newHarness(t)
		u, err := h.svc.ImportUser(ctx, core.ImportRequest{
			Phone: phoneN(1), PasswordHash: md5pw, DeviceID: "dev",
			Profile: core.Profile{Name: "Ann", Nickname: "an", Gender: "0", Avatar: "/v1/avatars/x.png"},
		})
		mustOK(t, err)
		if !uuid4.MatchString(u.ID) || u.Phone != e164(phoneN(1)) || u.PasswordHash != md5pw || u.DeviceID != "dev" || u.Name != "Ann" || u.Gender != "0" {
			t.Errorf("user %+v", u)
		}
		if !u.CreatedAt.Equal(h.clock.Now()) || !u.UpdatedAt.Equal(h.clock.Now()) {
			t.Errorf("times %v %v", u.CreatedAt, u.UpdatedAt)
		}
		got := h.storedUser(t, phoneN(1))
		if got.ID != u.ID || got.PasswordHash != md5pw || got.Nickname != "an" || got.Avatar != "/v1/avatars/x.png" {
			t.Errorf("stored %+v", got)
		}
		h.login(t, phoneN(1), "password", "dev")
	})

	t.Run("Password", func(t *testing.T) {
		h := newHarness(t)
		u, err := h.svc.ImportUser(ctx, core.ImportRequest{Phone: "+86" + phoneN(2), Password: "plain pw"})
		mustOK(t, err)
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Fatalf("hash %q", u.PasswordHash)
		}
		if got := h.storedUser(t, phoneN(2)).PasswordHash; got != u.PasswordHash {
			t.Errorf("stored %q", got)
		}
		before := u.PasswordHash
		h.login(t, phoneN(2), "plain pw", "")
		if got := h.storedUser(t, phoneN(2)).PasswordHash; got != before {
			t.Errorf("a current argon2id hash was replaced at login")
		}
	})

	t.Run("Argon2idHash", func(t *testing.T) {
		h := newHarness(t)
		phc := mustHash(t, "kept")
		_, err := h.svc.ImportUser(ctx, core.ImportRequest{Phone: phoneN(3), PasswordHash: phc})
		mustOK(t, err)
		h.login(t, phoneN(3), "kept", "")
		if got := h.storedUser(t, phoneN(3)).PasswordHash; got != phc {
			t.Errorf("an imported current argon2id hash was replaced")
		}
	})

	t.Run("Errors", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.svc.ImportUser(ctx, core.ImportRequest{Phone: phoneN(1), PasswordHash: md5pw})
		mustOK(t, err)
		tests := []struct {
			name string
			req  core.ImportRequest
			want core.Kind
		}{
			{"TakenHash", core.ImportRequest{Phone: phoneN(1), PasswordHash: md5pw}, core.AlreadyRegistered},
			{"TakenPassword", core.ImportRequest{Phone: e164(phoneN(1)), Password: "pw"}, core.AlreadyRegistered},
			{"BadPhone", core.ImportRequest{Phone: "12", PasswordHash: md5pw}, core.Invalid},
			{"Neither", core.ImportRequest{Phone: phoneN(2)}, core.Invalid},
			{"Both", core.ImportRequest{Phone: phoneN(2), Password: "pw", PasswordHash: md5pw}, core.Invalid},
			{"UnknownFormat", core.ImportRequest{Phone: phoneN(2), PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99"}, core.Invalid},
			{"BadHash", core.ImportRequest{Phone: phoneN(2), PasswordHash: "$legacy$md5$xyz"}, core.Invalid},
			{"BadArgon2id", core.ImportRequest{Phone: phoneN(2), PasswordHash: "$argon2id$v=19$m=64"}, core.Invalid},
			{"BadGender", core.ImportRequest{Phone: phoneN(2), PasswordHash: md5pw, Profile: core.Profile{Gender: "m"}}, core.Invalid},
			{"LongName", core.ImportRequest{Phone: phoneN(2), PasswordHash: md5pw, Profile: core.Profile{Name: strings.Repeat("x", 257)}}, core.Invalid},
			{"LongPassword", core.ImportRequest{Phone: phoneN(2), Password: strings.Repeat("x", 257)}, core.Invalid},
			{"BadUTF8Device", core.ImportRequest{Phone: phoneN(2), PasswordHash: md5pw, DeviceID: "\xff"}, core.Invalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := h.svc.ImportUser(ctx, tt.req)
				wantKind(t, err, tt.want)
				if u != nil {
					t.Errorf("a user came with the error")
				}
			})
		}
		if ok, _ := h.svc.IsRegistered(ctx, phoneN(2)); ok {
			t.Errorf("a refused import created a user")
		}
	})
}

// hideBatch hides the store's CreateUsers, so ImportUsers falls back to
// one CreateUser per user.
type hideBatch struct{ core.Store }

func TestImportUsers(t *testing.T) {
	ctx := context.Background()
	md5pw := "$legacy$md5$5f4dcc3b5aa765d61d8327deb882cf99"
	for _, batched := range []bool{true, false} {
		name := "Batched"
		if !batched {
			name = "OneByOne"
		}
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			svc := h.svc
			if !batched {
				var err error
				svc, err = core.New(hideBatch{h.store}, h.store, h.cfg)
				mustOK(t, err)
			} else if _, ok := core.Store(h.store).(core.UserBatchCreator); !ok {
				t.Fatal("memdb.Store is not a core.UserBatchCreator")
			}
			_, err := svc.ImportUser(ctx, core.ImportRequest{Phone: phoneN(1), PasswordHash: md5pw})
			mustOK(t, err)
			reqs := []core.ImportRequest{
				{Phone: phoneN(1), PasswordHash: md5pw},      // 0: existing
				{Phone: phoneN(2), PasswordHash: md5pw},      // 1
				{Phone: phoneN(3), Password: "pw3"},          // 2: hashed
				{Phone: "+86" + phoneN(2), Password: "pw2"},  // 3: taken by 1 in the same batch
				{Phone: phoneN(4), PasswordHash: "$legacy$"}, // 4: invalid
				{Phone: phoneN(5), Password: "pw5"},          // 5
			}
			users, errs := svc.ImportUsers(ctx, reqs)
			want := []core.Kind{core.AlreadyRegistered, 0, 0, core.AlreadyRegistered, core.Invalid, 0}
			for i, k := range want {
				if k == 0 {
					if errs[i] != nil || users[i] == nil {
						t.Errorf("request %d: %v", i, errs[i])
					}
					continue
				}
				if users[i] != nil {
					t.Errorf("request %d: a user came with the error", i)
				}
				wantKind(t, errs[i], k)
			}
			h.login(t, phoneN(2), "password", "")
			h.login(t, phoneN(3), "pw3", "")
			h.login(t, phoneN(5), "pw5", "")
			if u := h.storedUser(t, phoneN(2)); u.ID != users[1].ID {
				t.Errorf("phone 2 belongs to %s, want %s", u.ID, users[1].ID)
			}
			// Again: everything valid is now taken.
			_, errs = svc.ImportUsers(ctx, reqs)
			for i, e := range errs {
				if i != 4 {
					wantKind(t, e, core.AlreadyRegistered)
				}
			}
		})
	}
}
