package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"legacyauth/core"
)

const adminToken = "test-admin-token-0123456789"

// userBackend is a store configuration the user tests run on.
type userBackend struct {
	name string
	args []string
	// leftovers lists what the stores still hold that names the phone or
	// the user id (rows, keys, files), "" each when nothing.
	leftovers func(t *testing.T, g *testGateway, phone, userID string) []string
}

// userBackends: memdb always; PostgreSQL with Redis when the test
// servers are set.
func userBackends(t *testing.T) []userBackend {
	dir := t.TempDir()
	bs := []userBackend{{
		name: "memdb",
		args: []string{"--data-dir", dir},
		leftovers: func(t *testing.T, g *testGateway, phone, userID string) []string {
			// The deletion starts a compaction; once it is done no file
			// holds the account.
			var found []string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				found = filesHolding(t, dir, core.LocalPhone(phone)) // the audit trail keeps the user id
				if len(found) == 0 || time.Now().After(deadline) {
					return found
				}
			}
		},
	}}
	pgURL, redisURL := os.Getenv("GATEWAY_TEST_POSTGRES_URL"), os.Getenv("GATEWAY_TEST_REDIS_URL")
	if pgURL == "" || redisURL == "" {
		t.Log("GATEWAY_TEST_POSTGRES_URL and GATEWAY_TEST_REDIS_URL unset: PostgreSQL and Redis skipped")
		return bs
	}
	schema, prefix := isolate(t, pgURL, redisURL)
	return append(bs, userBackend{
		name: "postgres+redis",
		args: []string{"--store", "postgres", "--postgres-url", pgURL, "--postgres-schema", schema, "--redis-url", redisURL, "--redis-prefix", prefix, "--secret", randomSecret()},
		leftovers: func(t *testing.T, g *testGateway, phone, userID string) []string {
			return append(rowsHolding(t, pgURL, schema, core.LocalPhone(phone), userID), keysHolding(t, redisURL, prefix, core.LocalPhone(phone))...)
		},
	})
}

func filesHolding(t *testing.T, dir string, needles ...string) []string {
	var found []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, fmt.Sprintf("file %s holds %q", filepath.Base(p), n))
			}
		}
		return nil
	})
	return found
}

// rowsHolding lists, per table of the schema, rows whose text holds the
// phone or (outside the audit trail, which keeps it) the user id.
func rowsHolding(t *testing.T, pgURL, schema, phone, userID string) []string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) < 5 {
		t.Fatalf("tables: %v, %v", tables, err)
	}
	var found []string
	for _, tb := range tables {
		q := fmt.Sprintf(`SELECT count(*) FROM %s.%s x WHERE x::text LIKE '%%' || $1 || '%%' OR ($3 AND x::text LIKE '%%' || $2 || '%%')`, schema, tb)
		var n int
		if err := conn.QueryRow(ctx, q, phone, userID, tb != "audit_events").Scan(&n); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		if n > 0 {
			found = append(found, fmt.Sprintf("table %s: %d rows", tb, n))
		}
	}
	return found
}

// keysHolding lists the Redis keys under prefix whose name or value holds
// the phone.
func keysHolding(t *testing.T, redisURL, prefix, phone string) []string {
	ctx := context.Background()
	opt, _ := goredis.ParseURL(redisURL)
	rdb := goredis.NewClient(opt)
	defer rdb.Close()
	var found []string
	it := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	n := 0
	for it.Next(ctx) {
		k := it.Val()
		n++
		var vals []string
		switch rdb.Type(ctx, k).Val() {
		case "string":
			vals = []string{rdb.Get(ctx, k).Val()}
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				vals = append(vals, f, v)
			}
		case "set":
			vals = rdb.SMembers(ctx, k).Val()
		case "zset":
			vals = rdb.ZRange(ctx, k, 0, -1).Val()
		}
		if strings.Contains(k, phone) || strings.Contains(strings.Join(vals, "\x00"), phone) {
			found = append(found, "redis key "+k)
		}
	}
	if n == 0 {
		t.Log("redis: no keys under the prefix at all")
	}
	return found
}

// adminDo calls the admin API (token "" sends none) and decodes the reply.
func adminDo(t *testing.T, base, token, method, path string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, string(raw)
}

func registerUserV1(t *testing.T, c *client, phone, avatar string) (token string) {
	t.Helper()
	if st, r := c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); st != http.StatusOK {
		t.Fatalf("send: %d %v", st, r)
	}
	req := map[string]string{"phone": phone, "password": crossPassword, "code": c.g.SMS.Last()}
	if avatar != "" {
		req["avatar"] = avatar
	}
	st, r := c.json("/v1/users", req)
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v", st, r)
	}
	return r["token"].(string)
}

func events(m map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := m["events"].([]any)
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

func hasEvent(evs []map[string]any, typ, outcome, action string) bool {
	for _, e := range evs {
		if e["type"] == typ && e["outcome"] == outcome && (action == "" || e["action"] == action) {
			return true
		}
	}
	return false
}

// Each admin operation on each store: without the token 401 and nothing
// changes; with it the operation happens and leaves its audit record.
func TestAdminUserOperations(t *testing.T) {
	for _, b := range userBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			g := startGateway(t, append([]string{"--admin-token", adminToken}, b.args...)...)
			admin := httptest.NewServer(g.Admin)
			defer admin.Close()
			c := newClient(t, g)
			const phone = "13812345678"
			tok := registerUserV1(t, c, phone, "")
			for range 5 {
				if st, _ := c.json("/v1/sessions", map[string]string{"phone": phone, "password": "wrong-password"}); st != http.StatusUnauthorized {
					t.Fatalf("wrong password: %d", st)
				}
			}
			if st, _ := c.json("/v1/sessions", map[string]string{"phone": phone, "password": crossPassword}); st != http.StatusTooManyRequests {
				t.Fatalf("login of a locked phone: %d, want 429", st)
			}
			user := "/users/%2B86" + phone

			// Without the token: 401 for every operation, and nothing changes.
			for _, op := range [][2]string{{"GET", user}, {"POST", user + "/unlock"}, {"POST", user + "/logout"}, {"DELETE", user}, {"GET", user + "/audit"}} {
				for _, tk := range []string{"", "wrong-token-0123456789"} {
					if st, _, _ := adminDo(t, admin.URL, tk, op[0], op[1]); st != http.StatusUnauthorized {
						t.Fatalf("%s %s with token %q: %d, want 401", op[0], op[1], tk, st)
					}
				}
			}
			if st, _ := c.do(http.MethodGet, "/v1/session", "", "", "Authorization", "Bearer "+tok); st != http.StatusOK {
				t.Fatalf("the session went without a token: %d", st)
			}

			// show
			st, info, raw := adminDo(t, admin.URL, adminToken, "GET", user)
			if st != http.StatusOK {
				t.Fatalf("show: %d %s", st, raw)
			}
			for k, v := range map[string]any{"phone": "138****5678", "sessions": 1.0, "locked": true, "source": "registered", "hash_format": "argon2id", "last_login_address": "127.0.0.x"} {
				if info[k] != v {
					t.Errorf("show: %s = %#v, want %#v (%s)", k, info[k], v, raw)
				}
			}
			if info["last_login_at"] == nil || info["registered_at"] == nil || info["locked_until"] == nil {
				t.Errorf("show: times missing: %s", raw)
			}
			if strings.Contains(raw, "$argon2") || strings.Contains(raw, phone) {
				t.Fatalf("show reveals a hash or the phone: %s", raw)
			}

			// unlock
			if st, _, raw := adminDo(t, admin.URL, adminToken, "POST", user+"/unlock"); st != http.StatusOK {
				t.Fatalf("unlock: %d %s", st, raw)
			}
			if _, info, _ := adminDo(t, admin.URL, adminToken, "GET", user); info["locked"] != false {
				t.Fatalf("still locked after unlock: %v", info)
			}
			if st, _ := c.json("/v1/sessions", map[string]string{"phone": phone, "password": crossPassword}); st != http.StatusCreated {
				t.Fatalf("login after unlock: %d", st)
			}

			// logout
			st, res, raw := adminDo(t, admin.URL, adminToken, "POST", user+"/logout")
			if st != http.StatusOK || res["revoked_sessions"] != 2.0 {
				t.Fatalf("logout: %d %s", st, raw)
			}
			if st, _ := c.do(http.MethodGet, "/v1/session", "", "", "Authorization", "Bearer "+tok); st != http.StatusUnauthorized {
				t.Fatalf("a session outlived logout: %d", st)
			}

			// delete
			st, _, raw = adminDo(t, admin.URL, adminToken, "DELETE", user)
			if st != http.StatusOK {
				t.Fatalf("delete: %d %s", st, raw)
			}
			if st, _, _ := adminDo(t, admin.URL, adminToken, "GET", user); st != http.StatusNotFound {
				t.Fatalf("show after delete: %d, want 404", st)
			}
			if st, _ := c.json("/v1/sessions", map[string]string{"phone": phone, "password": crossPassword}); st != http.StatusNotFound {
				t.Fatalf("login after delete: %d, want 404", st)
			}

			// The audit trail, by the phone's keyed hash.
			st, res, raw = adminDo(t, admin.URL, adminToken, "GET", user+"/audit?days=1")
			if st != http.StatusOK {
				t.Fatalf("audit: %d %s", st, raw)
			}
			evs := events(res)
			for _, w := range [][3]string{
				{"registered", "ok", ""}, {"login", "wrong_password", ""}, {"locked", "rate_limited", ""}, {"login", "ok", ""},
				{"admin", "ok", "show"}, {"admin", "ok", "unlock"}, {"admin", "ok", "logout"}, {"admin", "ok", "delete"},
			} {
				if !hasEvent(evs, w[0], w[1], w[2]) {
					t.Errorf("no %v event in %s", w, raw)
				}
			}
			for _, e := range evs {
				if e["phone"] != "138****5678" || len(fmt.Sprint(e["phone_key"])) != 64 || e["time"] == nil {
					t.Errorf("event without masked phone, key or time: %v", e)
				}
				if e["type"] == "admin" && e["dialect"] != "admin-api" {
					t.Errorf("admin event not marked admin-api: %v", e)
				}
			}
			if strings.Contains(raw, phone) || strings.Contains(raw, crossPassword) || strings.Contains(raw, "$argon2") || strings.Contains(raw, tok) {
				t.Fatalf("the audit trail holds a phone in clear or a secret: %s", raw)
			}
			// The log stream has the same records.
			if !strings.Contains(g.Log.String(), `"audit":true`) || strings.Contains(g.Log.String(), crossPassword) {
				t.Errorf("the audit log stream is missing or holds a secret")
			}
		})
	}
}

func testPNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// DELETE /v1/users/me: refused without the right proof, and afterwards
// nothing of the user is left in any store (rows, keys, files).
func TestDeleteAccountV1LeavesNothing(t *testing.T) {
	for _, b := range userBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			g := startGateway(t, append([]string{"--admin-token", adminToken}, b.args...)...)
			c := newClient(t, g)
			ctx := context.Background()
			const phone = "13912345678"
			name, err := g.Service.StoreAvatar(ctx, testPNG(t))
			if err != nil {
				t.Fatal(err)
			}
			tok := registerUserV1(t, c, phone, "/v1/avatars/"+name)
			u, _, err := g.Service.Authenticate(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			flow, err := g.Service.StartFlow(ctx, phone)
			if err != nil {
				t.Fatal(err)
			}
			g.Clock.Advance(2 * time.Minute) // the SMS cooldown since the registration's code
			if st, r := c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "delete"}); st != http.StatusOK {
				t.Fatalf("send a delete code: %d %v", st, r)
			}
			del := func(body string, token string) int {
				st, _ := c.do(http.MethodDelete, "/v1/users/me", "application/json", body, "Authorization", "Bearer "+token)
				return st
			}
			if st := del(`{"password":"wrong-password"}`, tok); st != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d, want 401", st)
			}
			if st := del(`{}`, tok); st != http.StatusBadRequest {
				t.Fatalf("no proof: %d, want 400", st)
			}
			if st := del(`{"password":"`+crossPassword+`"}`, "00000000000000000000000000000000"); st != http.StatusUnauthorized {
				t.Fatalf("no session: %d, want 401", st)
			}
			if _, err := g.Service.UserInfo(ctx, phone); err != nil {
				t.Fatalf("the refused deletions deleted: %v", err)
			}
			if st := del(`{"password":"`+crossPassword+`"}`, tok); st != http.StatusNoContent {
				t.Fatalf("delete: %d, want 204", st)
			}
			if st, _ := c.do(http.MethodGet, "/v1/session", "", "", "Authorization", "Bearer "+tok); st != http.StatusUnauthorized {
				t.Fatalf("the session outlived the account: %d", st)
			}
			if st, _ := c.do(http.MethodGet, "/v1/avatars/"+name, "", ""); st != http.StatusNotFound {
				t.Fatalf("the avatar outlived the account: %d", st)
			}
			if _, err := g.Service.Flow(ctx, flow.ID); core.KindOf(err) != core.NotFound {
				t.Fatalf("the flow outlived the account: %v", err)
			}
			if res, err := g.stores.ephemeral.CheckCode(ctx, "+86"+phone, [][32]byte{{}}, g.Clock.Now(), 5); err != nil || res != core.CodeNone {
				t.Fatalf("the pending code outlived the account: %v, %v", res, err)
			}
			if _, err := g.stores.durable.UserByID(ctx, u.ID); core.KindOf(err) != core.NotRegistered {
				t.Fatalf("UserByID after the deletion: %v", err)
			}
			if n, err := g.stores.durable.CountSessions(ctx, u.ID, g.Clock.Now()); err != nil || n != 0 {
				t.Fatalf("sessions after the deletion: %d, %v", n, err)
			}
			if left := b.leftovers(t, g, "+86"+phone, u.ID); len(left) > 0 {
				t.Fatalf("left behind: %v", left)
			}
			// Signed up again, it deletes itself with a code.
			g.Clock.Advance(2 * time.Minute)
			tok = registerUserV1(t, c, phone, "")
			g.Clock.Advance(2 * time.Minute)
			if st, _ := c.json("/v1/codes", map[string]string{"phone": phone, "purpose": "delete"}); st != http.StatusOK {
				t.Fatal("send")
			}
			if st := del(`{"code":"`+g.SMS.Last()+`"}`, tok); st != http.StatusNoContent {
				t.Fatalf("delete with a code: %d, want 204", st)
			}
			audit, err := g.Service.AuditTrail(ctx, phone, 1)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range audit {
				if e.Type == core.AuditAccountDeleted && e.Outcome == core.AuditOK {
					n++
				}
			}
			if n != 2 {
				t.Fatalf("%d account_deleted events, want 2: %+v", n, audit)
			}
		})
	}
}

// gateway user ...: against the embedded store with the gateway stopped
// (refused while it runs), and against a running gateway's admin API.
func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	const phone = "13712345678"
	g := startGateway(t, "--data-dir", dir, "--admin-token", adminToken)
	c := newClient(t, g)
	registerUserV1(t, c, phone, "")
	env := map[string]string{"GATEWAY_DATA_DIR": dir, "GATEWAY_ADMIN_TOKEN": adminToken}

	_, _, err := runCLI(t, env, "user", "show", phone)
	if err == nil || !strings.Contains(err.Error(), "locked by a running gateway") {
		t.Fatalf("user show on a running gateway's store: %v", err)
	}
	admin := httptest.NewServer(g.Admin)
	out, _, err := runCLI(t, env, "user", "show", "--admin", admin.URL, phone)
	if err != nil || !strings.Contains(out, `"sessions": 1`) {
		t.Fatalf("user show --admin: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, map[string]string{"GATEWAY_DATA_DIR": dir}, "user", "show", "--admin", admin.URL, phone); err == nil {
		t.Fatal("user show --admin without a token succeeded")
	}
	admin.Close()
	g.app.Close()

	out, _, err = runCLI(t, env, "user", "logout", phone)
	if err != nil || !strings.Contains(out, `"revoked_sessions": 1`) {
		t.Fatalf("user logout: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, env, "user", "delete", phone)
	if err != nil || !strings.Contains(out, `"deleted": true`) {
		t.Fatalf("user delete: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, env, "user", "show", phone); err == nil || !strings.Contains(err.Error(), "not_registered") {
		t.Fatalf("user show after delete: %v", err)
	}
	out, _, err = runCLI(t, env, "user", "audit", phone)
	if err != nil || !strings.Contains(out, `"action": "delete"`) || !strings.Contains(out, `"dialect": "cli"`) || strings.Contains(out, phone) {
		t.Fatalf("user audit: %v\n%s", err, out)
	}
	// Nothing of the account is left in the data directory: the deletion
	// compacted the log before the command closed the store.
	if left := filesHolding(t, dir, phone); len(left) > 0 {
		t.Fatalf("left behind by user delete: %v", left)
	}
	if out, _, err := runCLI(t, env, "user", "unlock", phone); err != nil || !strings.Contains(out, `"unlocked": true`) {
		t.Fatalf("user unlock: %v %s", err, out)
	}
}
