package migrate

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseModes(t *testing.T) {
	w := &fakeCore{}
	m, err := ParseModes(w, " login=shadow , get_verification_code=proxy")
	if err != nil || m["login"] != Shadow || m["get_verification_code"] != Proxy || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"login", "login=mirror", "registration=proxy", "login=core,login=proxy"} {
		if _, err := ParseModes(w, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseModes(nil, "login=proxy"); err == nil {
		t.Errorf("a dialect without a Wire took a mode")
	}
	if m, err := ParseModes(nil, ""); err != nil || len(m) != 0 {
		t.Errorf("no modes, no Wire: %v %v", m, err)
	}
	for _, bad := range []string{"ftp://old", "old:8080", "http://old/?x=1", "http://u:p@old/"} {
		if _, err := ParseUpstream(bad); err == nil {
			t.Errorf("upstream %q: no error", bad)
		}
	}
}

// The bucket of a phone never changes, and the buckets are even enough
// that a percentage means what it says.
func TestBucket(t *testing.T) {
	const n = 20000
	under := 0
	for i := range n {
		phone := fmt.Sprintf("+86138%08d", i*7919%100000000)
		b := Bucket(phone)
		if b != Bucket(phone) || b < 0 || b > 99 {
			t.Fatalf("Bucket(%s) = %d, then %d", phone, b, Bucket(phone))
		}
		if b < 30 {
			under++
		}
	}
	if share := float64(under) / n; share < 0.28 || share > 0.32 {
		t.Errorf("%.3f of phones under 30, want about 0.30", share)
	}
}

// Reply bodies are logged with tokens, ids and phones masked.
func TestRedact(t *testing.T) {
	body := []byte("{\n  \"code\": 200, \n  \"data\": {\"token\": \"5a2dd48054d694b0fcaeef1ecca767a2\", \"user_id\": \"f223fa5c92e846349031b0eb06868478\", \"phone\": \"13812341234\"}}")
	got := newWire(&fakeCore{}).redact(body)
	for _, secret := range []string{"5a2dd48054d694b0fcaeef1ecca767a2", "f223fa5c92e846349031b0eb06868478", "13812341234"} {
		if strings.Contains(got, secret) {
			t.Errorf("redacted body still holds %s: %s", secret, got)
		}
	}
	if !strings.Contains(got, "138****1234") || !strings.Contains(got, `"code": 200`) {
		t.Errorf("redacted too much: %s", got)
	}
}
