package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"legacyauth/core"
)

// Keys. Phones are E.164 and purposes have fixed names, so no key of one
// kind can be mistaken for another's.
func (s *Store) codeKey(phone string) string { return s.prefix + "code:" + phone }

func (s *Store) ticketKey(phone string, p core.Purpose) string {
	name := p.String()
	if name == "unknown" {
		name = strconv.Itoa(int(p)) // distinct purposes never share a key
	}
	return s.prefix + "ticket:" + name + ":" + phone
}

func (s *Store) flowKey(id string) string { return s.prefix + "flow:" + id }

// expiry splits a time into Unix seconds and nanoseconds, both exact as Lua
// numbers (doubles), which Unix nanoseconds alone (~2^60) are not.
func expiry(t time.Time) (sec, nsec int64) { return t.Unix(), int64(t.Nanosecond()) }

// Script results, in the order of core.CodeCheck.
var codeResults = [...]core.CodeCheck{0: core.CodeMatched, 1: core.CodeMismatch, 2: core.CodeBurned, 3: core.CodeNone, 4: core.CodeStale}

// checkCodeScript is all of CheckCode, so that it runs atomically: no other
// command (another instance's check, a PutCode) can interleave, and of many
// concurrent checks of the right code exactly one sees it and deletes it.
//
// KEYS[1] the code; ARGV[1], ARGV[2] now (Unix seconds, nanoseconds);
// ARGV[3] maxAttempts; ARGV[4..] the candidate MACs. Returns 0 matched,
// 1 mismatch, 2 burned, 3 none, 4 stale.
//
// Constant time: Lua has no constant-time comparison, and the script
// compares with ==. That is acceptable here, and preferred to comparing in
// Go with crypto/subtle inside WATCH/MULTI (which would need two round
// trips and, under contention, retries that can fail a legitimate check):
//   - the comparison runs inside the Redis server; an attacker sees its
//     timing only through the network round trip and the gateway, whose
//     jitter (tens of microseconds at best) dwarfs a 32-byte comparison
//     (nanoseconds);
//   - what is compared is HMAC-SHA256 under the gateway's secret, which the
//     attacker does not have: each guess yields an unpredictable MAC, so
//     even an exact "how many leading bytes matched" would tell nothing
//     about which code to try next (besides, Lua interns strings, so ==
//     compares pointers; bytes are compared only when interning meets a
//     hash collision);
//   - guesses are few: maxAttempts burns the code and core/limits locks the
//     phone after repeated wrong codes.
//
// Every candidate is compared (no early exit), like memdb does.
var checkCodeScript = goredis.NewScript(`
local c = redis.call('HMGET', KEYS[1], 'm', 's', 'n', 'b')
if not c[1] then return 3 end
local es, en = tonumber(c[2]), tonumber(c[3])
local ns, nn = tonumber(ARGV[1]), tonumber(ARGV[2])
if ns > es or (ns == es and nn >= en) then return 4 end
if c[4] == '1' then return 2 end
local hit = false
for i = 4, #ARGV do
	if ARGV[i] == c[1] then hit = true end
end
if hit then
	redis.call('DEL', KEYS[1])
	return 0
end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
if a >= tonumber(ARGV[3]) then
	redis.call('HSET', KEYS[1], 'b', '1')
	return 2
end
return 1
`)

// takeTicketScript is all of TakeTicket, so that of concurrent takes
// exactly one wins.
//
// KEYS[1] the ticket; ARGV[1], ARGV[2] now; ARGV[3] "1" to require the hash
// ARGV[4]. Returns 0 taken, 1 none, 2 expired (and removed), 3 wrong hash
// (left in place: guessing a 128-bit ticket is hopeless). The comparison
// is of SHA-256 digests of the ticket; see checkCodeScript on timing.
var takeTicketScript = goredis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'h', 's', 'n')
if not t[1] then return 1 end
local es, en = tonumber(t[2]), tonumber(t[3])
local ns, nn = tonumber(ARGV[1]), tonumber(ARGV[2])
if ns > es or (ns == es and nn >= en) then
	redis.call('DEL', KEYS[1])
	return 2
end
if ARGV[3] == '1' and ARGV[4] ~= t[1] then return 3 end
redis.call('DEL', KEYS[1])
return 0
`)

// PutCode stores c, replacing any code pending for its phone (with its
// attempts and burned state, which c carries).
func (s *Store) PutCode(ctx context.Context, c *core.Code) error {
	const op = "redis.PutCode"
	if c == nil || c.Phone == "" {
		return core.E(op, core.Invalid, "a code needs a phone")
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	key := s.codeKey(c.Phone)
	sec, nsec := expiry(c.ExpiresAt)
	burned := "0"
	if c.Burned {
		burned = "1"
	}
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		// Every field is written, so nothing of a replaced code survives.
		p.HSet(ctx, key, "m", c.MAC[:], "p", int(c.Purpose), "s", sec, "n", nsec, "a", c.Attempts, "b", burned)
		p.PExpire(ctx, key, s.ttl(c.ExpiresAt, staleFor))
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// CheckCode checks a guess against the phone's pending code; see
// core.EphemeralStore. A code is stale from its ExpiresAt on.
func (s *Store) CheckCode(ctx context.Context, phone string, macs [][32]byte, now time.Time, maxAttempts int) (core.CodeCheck, error) {
	const op = "redis.CheckCode"
	ctx, cancel := s.call(ctx)
	defer cancel()
	sec, nsec := expiry(now)
	args := make([]any, 0, 3+len(macs))
	args = append(args, sec, nsec, maxAttempts)
	for i := range macs {
		args = append(args, macs[i][:])
	}
	n, err := checkCodeScript.Run(ctx, s.client, []string{s.codeKey(phone)}, args...).Int64()
	if err != nil {
		return core.CodeNone, s.fail(op, err)
	}
	if n < 0 || n >= int64(len(codeResults)) {
		return core.CodeNone, core.E(op, core.Internal, "unexpected script result")
	}
	return codeResults[n], nil
}

// PutTicket stores t, replacing any ticket of the same phone and purpose.
func (s *Store) PutTicket(ctx context.Context, t *core.Ticket) error {
	const op = "redis.PutTicket"
	if t == nil || t.Phone == "" {
		return core.E(op, core.Invalid, "a ticket needs a phone")
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	key := s.ticketKey(t.Phone, t.Purpose)
	sec, nsec := expiry(t.ExpiresAt)
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, "h", t.Hash[:], "s", sec, "n", nsec)
		p.PExpire(ctx, key, s.ttl(t.ExpiresAt, 0))
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// TakeTicket consumes the phone's ticket for exactly purpose when it is
// unexpired at now and, if hash is not nil, has that hash. A wrong hash
// leaves the ticket in place, as in memdb.
func (s *Store) TakeTicket(ctx context.Context, phone string, purpose core.Purpose, hash *[32]byte, now time.Time) error {
	const op = "redis.TakeTicket"
	ctx, cancel := s.call(ctx)
	defer cancel()
	sec, nsec := expiry(now)
	args := []any{sec, nsec, "0", ""}
	if hash != nil {
		args[2], args[3] = "1", hash[:]
	}
	n, err := takeTicketScript.Run(ctx, s.client, []string{s.ticketKey(phone, purpose)}, args...).Int64()
	if err != nil {
		return s.fail(op, err)
	}
	switch n {
	case 0:
		return nil
	case 1:
		return core.E(op, core.Unauthorized, "no ticket")
	case 2:
		return core.E(op, core.Unauthorized, "ticket expired")
	case 3:
		return core.E(op, core.Unauthorized, "wrong ticket")
	}
	return core.E(op, core.Internal, "unexpected script result")
}

// flowRecord is a flow as stored; its id is in the key.
type flowRecord struct {
	Phone   string `json:"p"`
	Ticket  string `json:"t,omitempty"`
	Expires int64  `json:"e"` // Unix nanoseconds
}

// PutFlow stores or replaces a flow.
func (s *Store) PutFlow(ctx context.Context, f *core.Flow) error {
	const op = "redis.PutFlow"
	if f == nil || f.ID == "" {
		return core.E(op, core.Invalid, "a flow needs an id")
	}
	b, err := json.Marshal(flowRecord{Phone: f.Phone, Ticket: f.Ticket, Expires: f.ExpiresAt.UnixNano()})
	if err != nil {
		return &core.Error{Op: op, Kind: core.Internal, Err: err}
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, s.flowKey(f.ID), b, s.ttl(f.ExpiresAt, 0))
		s.indexFlow(ctx, p, f) // for DeletePhone
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Flow finds a flow unexpired at now. Its ExpiresAt comes back in UTC.
func (s *Store) Flow(ctx context.Context, id string, now time.Time) (*core.Flow, error) {
	const op = "redis.Flow"
	ctx, cancel := s.call(ctx)
	defer cancel()
	b, err := s.client.Get(ctx, s.flowKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, core.E(op, core.NotFound, "no such flow")
	}
	if err != nil {
		return nil, s.fail(op, err)
	}
	var r flowRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &core.Error{Op: op, Kind: core.Internal, Msg: "bad flow record", Err: errors.New("undecodable flow record")}
	}
	f := &core.Flow{ID: id, Phone: r.Phone, Ticket: r.Ticket, ExpiresAt: time.Unix(0, r.Expires).UTC()}
	if !now.Before(f.ExpiresAt) {
		return nil, core.E(op, core.NotFound, "no such flow")
	}
	return f, nil
}

// DeleteFlow removes a flow; a missing one is not an error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	const op = "redis.DeleteFlow"
	ctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.client.Del(ctx, s.flowKey(id)).Err(); err != nil {
		return s.fail(op, err)
	}
	return nil
}
