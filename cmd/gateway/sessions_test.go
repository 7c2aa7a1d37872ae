package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"legacyauth/internal/testkit"
)

// capGateways runs f on one gateway on the embedded store and on two
// instances sharing PostgreSQL and Redis (skipped without
// GATEWAY_TEST_POSTGRES_URL and GATEWAY_TEST_REDIS_URL): the cap must hold
// whichever instance takes the login.
func capGateways(t *testing.T, f func(t *testing.T, gs []*testGateway), args ...string) {
	args = append([]string{"--limits=off"}, args...)
	t.Run("memdb", func(t *testing.T) { f(t, []*testGateway{startGateway(t, args...)}) })
	t.Run("postgres+redis", func(t *testing.T) {
		pgURL, redisURL := scaleOutEnv(t)
		schema, prefix := isolate(t, pgURL, redisURL)
		shared := append([]string{"--store=postgres", "--postgres-url", pgURL, "--postgres-schema", schema,
			"--redis-url", redisURL, "--redis-prefix", prefix, "--secret", randomSecret()}, args...)
		f(t, []*testGateway{startGateway(t, shared...), startGateway(t, shared...)})
	})
}

// capPost sends a JSON body; safe from any goroutine (it reports, never fails).
func capPost(g *testGateway, path string, body map[string]string) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(g.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// capRegister signs phone up through /v1 and returns the registration's token.
func capRegister(t *testing.T, g *testGateway, phone, password string) string {
	t.Helper()
	if st, r, err := capPost(g, "/v1/codes", map[string]string{"phone": phone, "purpose": "register"}); st != http.StatusOK {
		t.Fatalf("send code: %d %v %v", st, r, err)
	}
	st, r, err := capPost(g, "/v1/users", map[string]string{"phone": phone, "password": password, "code": g.SMS.Last()})
	if st != http.StatusCreated {
		t.Fatalf("register: %d %v %v", st, r, err)
	}
	return r["token"].(string)
}

// capLogin logs in through /v1 and returns the token, or "" with the reason.
func capLogin(g *testGateway, phone, password string) (string, error) {
	st, r, err := capPost(g, "/v1/sessions", map[string]string{"phone": phone, "password": password})
	if err != nil || st != http.StatusCreated {
		return "", fmt.Errorf("login: %d %v %v", st, r, err)
	}
	return r["token"].(string), nil
}

// capSessionStatus is GET /v1/session's status for token: 200 live, 401 not.
func capSessionStatus(t *testing.T, g *testGateway, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v1/session", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionCap: 25 logins of one account keep only the last 20 sessions
// (--max-sessions' default); the older ones, the registration's included,
// are refused at /v1/session.
func TestSessionCap(t *testing.T) {
	capGateways(t, func(t *testing.T, gs []*testGateway) {
		const phone, password = "13812345001", "s3cret-pw"
		tokens := []string{capRegister(t, gs[0], phone, password)}
		for i := range 25 {
			for _, g := range gs {
				g.Clock.Advance(time.Second) // distinct creation times: "oldest" is well defined
			}
			tok, err := capLogin(gs[i%len(gs)], phone, password)
			if err != nil {
				t.Fatal(err)
			}
			tokens = append(tokens, tok)
		}
		for i, tok := range tokens {
			want := http.StatusOK
			if i < len(tokens)-20 {
				want = http.StatusUnauthorized
			}
			for _, g := range gs {
				if st := capSessionStatus(t, g, tok); st != want {
					t.Errorf("session %d of %d (0 is the registration's): GET /v1/session = %d, want %d", i, len(tokens), st, want)
				}
			}
		}
	})
}

// TestSessionCapConcurrent: a burst of logins released together behind a
// barrier, spread over the instances, leaves exactly --max-sessions live.
func TestSessionCapConcurrent(t *testing.T) {
	const n, keep = 40, 7
	capGateways(t, func(t *testing.T, gs []*testGateway) {
		const phone, password = "13812345002", "s3cret-pw"
		tokens := make([]string, n+1)
		errs := make([]error, n)
		tokens[n] = capRegister(t, gs[0], phone, password)
		testkit.Together(n, func(i int) { tokens[i], errs[i] = capLogin(gs[i%len(gs)], phone, password) })
		live := 0
		for i, tok := range tokens {
			if i < n && errs[i] != nil {
				t.Fatalf("login %d: %v", i, errs[i])
			}
			if capSessionStatus(t, gs[0], tok) == http.StatusOK {
				live++
			}
		}
		if live != keep {
			t.Fatalf("%d concurrent logins left %d live sessions, want %d", n, live, keep)
		}
	}, fmt.Sprint("--max-sessions=", keep))
}
