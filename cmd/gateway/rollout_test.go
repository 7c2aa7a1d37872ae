package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"legacyauth/core"
	"legacyauth/core/postgres"
	"legacyauth/gateway/migrate"
	"legacyauth/internal/oldserver"
)

const rolloutToken = "rollout-test-admin-token"

// rolloutFlags run apiv4 in split mode with a schedule, in short steps.
// Logins wait for a hash slot without the 1 s bound (as childHashWait
// does for processes): a shed login would count as a core error and
// break the gate these tests expect to hold.
func rolloutFlags(upstream string) []string {
	return []string{"--limits=off", "--apiv4-mode=split", "--apiv4-upstream=" + upstream, "--apiv4-rollout=1,5,25,50,100",
		"--rollout-min-time=150ms", "--rollout-min-requests=20", "--rollout-poll=50ms", "--hash-wait=1m"}
}

// rolloutUsers are on the old server and imported into the core alike.
func rolloutUsers(n int) []oldserver.User {
	var us []oldserver.User
	for i := range n {
		us = append(us, oldserver.User{Phone: fmt.Sprintf("1380001%04d", i), Password: "abc12345", Name: fmt.Sprintf("User %d", i)})
	}
	return us
}

// startRolloutOld serves the apiv4 double with users; answer, when not
// nil, answers some requests instead of it.
func startRolloutOld(t *testing.T, users []oldserver.User, answer func(w http.ResponseWriter, r *http.Request) bool) (*oldserver.Server, string) {
	t.Helper()
	old := oldserver.MustNew(oldserver.APIv4, oldserver.Options{})
	for _, u := range users {
		old.AddUser(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer != nil && answer(w, r) {
			return
		}
		old.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return old, srv.URL
}

// rolloutTraffic sends each user's login and registration look-up to base.
func rolloutTraffic(t *testing.T, base string, users []oldserver.User) {
	t.Helper()
	for _, u := range users {
		for _, req := range []func() (*http.Response, error){
			func() (*http.Response, error) {
				return http.Post(base+"/api/v4.0/login", "application/x-www-form-urlencoded", strings.NewReader("phone="+u.Phone+"&password="+u.Password))
			},
			func() (*http.Response, error) { return http.Get(base + "/api/v4.0/isregister/" + u.Phone) },
		} {
			resp, err := req()
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// With an old server that behaves as the core does, the split walks every
// step of the schedule to 100%, one step at a time, and the gauges say so.
func TestRolloutAdvancesToTheEnd(t *testing.T) {
	users := rolloutUsers(30)
	_, upstream := startRolloutOld(t, users, nil)
	g := startGateway(t, append(rolloutFlags(upstream), "--admin-token", rolloutToken)...)
	ctx := context.Background()
	for _, u := range users {
		if _, err := g.Service.ImportUser(ctx, core.ImportRequest{Phone: u.Phone, Password: u.Password, Profile: core.Profile{Name: u.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	var st *migrate.Status
	for deadline := time.Now().Add(60 * time.Second); ; {
		rolloutTraffic(t, g.URL, users)
		var err error
		if st, err = g.Migrator.Status(ctx); err != nil {
			t.Fatal(err)
		}
		tr := st.Tracks["apiv4"]
		if tr.Paused {
			t.Fatalf("the rollout paused: %s\nsamples: %+v", tr.Reason, tr.Samples)
		}
		if tr.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout did not complete: %+v", tr)
		}
	}
	tr := st.Tracks["apiv4"]
	var walked []int
	for _, h := range tr.History {
		walked = append(walked, h.To)
	}
	if fmt.Sprint(walked) != "[5 25 50 100]" || tr.Percent != 100 || tr.StepLabel() != "5/5" {
		t.Errorf("steps walked from 1%%: %v, now %d%% (step %s), want [5 25 50 100] to 100%%", walked, tr.Percent, tr.StepLabel())
	}
	if tot := tr.Total["login"]; tot == nil || tot.Compares == 0 || tot.Mismatches != 0 || tot.CoreRequests == 0 || tot.OldRequests == 0 {
		t.Errorf("login counts: %+v, want compares and requests on both sides, no mismatch", tot)
	}
	// Fields that differ on every request, or between the two systems,
	// were learnt as noise: the token and the user id, not the name.
	noise := strings.Join(st.Noise["apiv4.login"], ",")
	if !strings.Contains(noise, "data.token") || !strings.Contains(noise, "data.user_id") || strings.Contains(noise, "data.name") {
		t.Errorf("login's noise: %s, want data.token and data.user_id, not data.name", noise)
	}
	s, _ := scrape(t, adminServer(t, g))
	if p := s.get(t, "gateway_migration_split_percent", "dialect", "apiv4", "op", "login"); p != 100 {
		t.Errorf("gateway_migration_split_percent{op=login} = %v, want 100", p)
	}
	if p := s.get(t, "gateway_migration_rollout_step", "dialect", "apiv4", "op", "isregister"); p != 5 {
		t.Errorf("gateway_migration_rollout_step{op=isregister} = %v, want 5", p)
	}
}

// With an old server that answers one operation differently, the first
// step's comparisons break the gate: the split falls back to 0, the
// rollout pauses, and `gateway migrate status` names the operation and
// shows a masked sample. An operator's set and resume go through POST.
func TestRolloutRollsBackOnMismatch(t *testing.T) {
	users := rolloutUsers(20)
	// The old server says every phone is unknown to isregister.
	_, upstream := startRolloutOld(t, users, func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/api/v4.0/isregister/") {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{\n  \"code\": 200, \n  \"data\": \"\", \n  \"msg\": \"\\u624b\\u673a\\u53f7\\u672a\\u6ce8\\u518c\"\n}")
		return true
	})
	g := startGateway(t, append(rolloutFlags(upstream), "--admin-token", rolloutToken)...)
	ctx := context.Background()
	for _, u := range users {
		if _, err := g.Service.ImportUser(ctx, core.ImportRequest{Phone: u.Phone, Password: u.Password, Profile: core.Profile{Name: u.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	var tr *migrate.Track
	for deadline := time.Now().Add(20 * time.Second); ; {
		rolloutTraffic(t, g.URL, users)
		st, err := g.Migrator.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tr = st.Tracks["apiv4"]; tr.Paused || tr.Percent != 1 || time.Now().After(deadline) {
			break
		}
	}
	if !tr.Paused || tr.Percent != 0 || !strings.Contains(tr.Reason, "apiv4.isregister") {
		t.Fatalf("after mismatches at the first step: %d%%, paused %v (%s), want 0%%, paused, naming apiv4.isregister", tr.Percent, tr.Paused, tr.Reason)
	}
	admin := adminServer(t, g)
	var out bytes.Buffer
	getenv := func(k string) string {
		if k == "GATEWAY_ADMIN_TOKEN" {
			return rolloutToken
		}
		return ""
	}
	if err := run(ctx, []string{"migrate", "--admin", admin, "status"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	status := out.String()
	for _, want := range []string{"apiv4: split, 0% to the core", "PAUSED: apiv4.isregister", "outcome ok/already_registered", "phone 138****"} {
		if !strings.Contains(status, want) {
			t.Errorf("migrate status lacks %q:\n%s", want, status)
		}
	}
	for _, u := range users {
		if strings.Contains(status, u.Phone) {
			t.Errorf("migrate status shows the phone %s unmasked:\n%s", u.Phone, status)
		}
	}
	// The admin API needs the token.
	if resp, err := http.Get(admin + "/migration"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /migration without the token: %v %v, want 401", resp.StatusCode, err)
	}
	// set, then resume: the split moves at once on this instance.
	out.Reset()
	if err := run(ctx, []string{"migrate", "--admin", admin, "set", "apiv4", "25"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Migrator.Status(ctx); st.Tracks["apiv4"].Percent != 25 || !st.Tracks["apiv4"].Paused {
		t.Errorf("after set apiv4 25: %+v", st.Tracks["apiv4"])
	}
	if err := run(ctx, []string{"migrate", "--admin", admin, "resume"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Migrator.Status(ctx); st.Tracks["apiv4"].Paused {
		t.Errorf("after resume: still paused: %s", st.Tracks["apiv4"].Reason)
	}
	if err := run(ctx, []string{"migrate", "--admin", admin, "set", "apiv4.login", "50"}, getenv, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "follows apiv4") {
		t.Errorf("set on an operation without its own mode: %v", err)
	}
}

// Two gateway processes on one PostgreSQL and one Redis follow the same
// step: both add their counts to the shared state and walk the schedule
// to 100%, and a change written to the store reaches both within a poll.
func TestRolloutSharedByInstances(t *testing.T) {
	pgURL, redisURL := scaleOutEnv(t)
	schema, prefix := isolate(t, pgURL, redisURL)
	users := rolloutUsers(20)
	old, upstream := startRolloutOld(t, users, nil)
	args := append([]string{"--store=postgres", "--postgres-url", pgURL, "--postgres-schema", schema,
		"--redis-url", redisURL, "--redis-prefix", prefix, "--secret", randomSecret(), "--data-dir", t.TempDir()}, rolloutFlags(upstream)...)
	var a, b *childGateway
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = startChildArgs(t, args...) }()
	go func() { defer wg.Done(); b = startChildArgs(t, args...) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgURL, postgres.Options{Schema: schema, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc, err := core.New(store, store, core.Config{Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := svc.ImportUser(ctx, core.ImportRequest{Phone: u.Phone, Password: u.Password, Profile: core.Profile{Name: u.Name}}); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *migrate.Track {
		t.Helper()
		st, err := migrate.LoadState(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		return st.Tracks["apiv4"]
	}
	for deadline := time.Now().Add(90 * time.Second); ; {
		rolloutTraffic(t, a.URL, users[:10])
		rolloutTraffic(t, b.URL, users[10:])
		tr := load()
		if tr != nil && tr.Paused {
			t.Fatalf("paused: %s", tr.Reason)
		}
		if tr != nil && tr.Complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not complete: %+v\nA:\n%s\nB:\n%s", tr, a.log.String(), b.log.String())
		}
	}
	// Both instances route every phone to the core now.
	time.Sleep(200 * time.Millisecond)
	before := old.Requests()
	rolloutTraffic(t, a.URL, users[:3])
	rolloutTraffic(t, b.URL, users[3:6])
	if n := old.Requests() - before; n != 0 {
		t.Errorf("at 100%% the old server got %d requests", n)
	}
	// A change made in the store (as by an operator on another instance)
	// reaches both.
	zero := 0
	if err := migrate.UpdateState(ctx, store, migrate.Command{Action: "set", Target: "apiv4", Percent: &zero}.Apply); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	before = old.Requests()
	rolloutTraffic(t, a.URL, users[:2])
	rolloutTraffic(t, b.URL, users[2:4])
	if n := old.Requests() - before; n != 8 {
		t.Errorf("at 0%% the old server got %d of 8 requests", n)
	}
}
