package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"legacyauth/core/limits"
)

// EventLog returns the rolling-window Log of core/limits over this Store's
// client, its keys under Prefix+"rl:": every gateway instance then takes
// from the same budgets and knows the same clients.
//
// A key is a sorted set: members are event ids (or, for Remember, client
// names), scores their times in Unix milliseconds. Each call is one
// command or one single-key script, so it is atomic and runs in a Redis
// Cluster as it does on one server.
func (s *Store) EventLog() limits.Log { return eventLog{s} }

type eventLog struct{ s *Store }

var _ limits.Log = eventLog{}

// fail is Store.fail, and nil for no error.
func (l eventLog) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return l.s.fail(op, err)
}

func (l eventLog) key(k string) string { return l.s.prefix + "rl:" + k }

// takeScript is limits.Gate's verdict (Gate.verdict) in Lua: drop the
// events that left the window, judge, record. ARGV: now, window, quota,
// backoff, max backoff (milliseconds, counts), force (0/1), id.
// It returns {admitted 0/1, count, retry at}.
var takeScript = goredis.NewScript(`
local now, window, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local backoff, maxBackoff, force = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == "1"
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - window)
local n = redis.call("ZCARD", KEYS[1])
local ok, retry = 1, 0
if n >= quota then
  ok = 0
  if backoff <= 0 then
    retry = tonumber(redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")[2]) + window
  else
    local wait = backoff
    local k = n - quota
    while k > 0 and wait < maxBackoff do
      wait = wait * 2
      k = k - 1
    end
    if wait > maxBackoff then wait = maxBackoff end
    local newest = tonumber(redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")[2])
    if now >= newest + wait then ok = 1 else retry = newest + wait end
  end
end
if ok == 1 or force then
  redis.call("ZADD", KEYS[1], now, ARGV[7])
  n = n + 1
  redis.call("PEXPIRE", KEYS[1], window + maxBackoff)
end
return {ok, n, retry}
`)

// rememberScript: record the member now, drop what is older than keep and
// all but the newest max. ARGV: now, keep (ms), max, member.
var rememberScript = goredis.NewScript(`
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[4])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`)

func (l eventLog) Take(ctx context.Context, key, id string, g limits.Gate, now time.Time) (limits.Taken, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	force := "0"
	if g.Force {
		force = "1"
	}
	res, err := takeScript.Run(ctx, l.s.client, []string{l.key(key)},
		now.UnixMilli(), g.Window.Milliseconds(), g.Quota, g.Backoff.Milliseconds(), g.MaxBackoff.Milliseconds(), force, id).Int64Slice()
	if err != nil {
		return limits.Taken{}, l.s.fail("redis.limits.Take", err)
	}
	t := limits.Taken{OK: res[0] == 1, Count: res[1]}
	if !t.OK {
		t.RetryAt = time.UnixMilli(res[2])
	}
	return t, nil
}

func (l eventLog) Return(ctx context.Context, key, id string) error {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	return l.fail("redis.limits.Return", l.s.client.ZRem(ctx, l.key(key), id).Err())
}

func (l eventLog) Clear(ctx context.Context, key string) error {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	return l.fail("redis.limits.Clear", l.s.client.Del(ctx, l.key(key)).Err())
}

func (l eventLog) Remember(ctx context.Context, key, member string, now time.Time, keep time.Duration, max int) error {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	err := rememberScript.Run(ctx, l.s.client, []string{l.key(key)}, now.UnixMilli(), keep.Milliseconds(), max, member).Err()
	return l.fail("redis.limits.Remember", err)
}

func (l eventLog) Knows(ctx context.Context, key, member string, now time.Time, keep time.Duration) (bool, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	score, err := l.s.client.ZScore(ctx, l.key(key), member).Result()
	switch {
	case err == goredis.Nil:
		return false, nil
	case err != nil:
		return false, l.s.fail("redis.limits.Knows", err)
	}
	return int64(score) > now.Add(-keep).UnixMilli(), nil
}
