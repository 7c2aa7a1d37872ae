package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"legacyauth/core"
	"legacyauth/core/limits"
)

// phoneFlowsKey is the set of a phone's flow ids, kept by PutFlow so that
// DeletePhone finds them without scanning every key. It expires with the
// phone's newest flow; ids of flows gone before are harmless.
func (s *Store) phoneFlowsKey(phone string) string { return s.prefix + "phoneflows:" + phone }

// indexFlow adds a flow to its phone's set, in the pipeline that stores it.
func (s *Store) indexFlow(ctx context.Context, p goredis.Pipeliner, f *core.Flow) {
	key := s.phoneFlowsKey(f.Phone)
	p.SAdd(ctx, key, f.ID)
	p.PExpire(ctx, key, s.ttl(f.ExpiresAt, 0))
}

// DeletePhone deletes the phone's code, its tickets (every purpose) and
// its flows. One key per command, so it runs in a Redis Cluster too.
func (s *Store) DeletePhone(ctx context.Context, phone string) error {
	const op = "redis.DeletePhone"
	ctx, cancel := s.call(ctx)
	defer cancel()
	ids, err := s.client.SMembers(ctx, s.phoneFlowsKey(phone)).Result()
	if err != nil {
		return s.fail(op, err)
	}
	_, err = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, s.codeKey(phone))
		for pu := core.PurposeAny; pu <= core.PurposeDelete; pu++ {
			p.Del(ctx, s.ticketKey(phone, pu))
		}
		for _, id := range ids {
			p.Del(ctx, s.flowKey(id))
		}
		p.Del(ctx, s.phoneFlowsKey(phone))
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

var _ limits.Inspector = eventLog{}

// Peek reads key's window and judges it as the take script would, without
// recording anything.
func (l eventLog) Peek(ctx context.Context, key string, g limits.Gate, now time.Time) (limits.Taken, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	ms := now.UnixMilli()
	zs, err := l.s.client.ZRangeByScoreWithScores(ctx, l.key(key), &goredis.ZRangeBy{
		Min: "(" + strconv.FormatInt(ms-g.Window.Milliseconds(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return limits.Taken{}, l.s.fail("redis.limits.Peek", err)
	}
	n := int64(len(zs))
	var oldest, newest int64
	if n > 0 {
		oldest, newest = int64(zs[0].Score)*1e6, int64(zs[n-1].Score)*1e6
	}
	ok, retry := g.Verdict(n, oldest, newest, ms*1e6)
	t := limits.Taken{OK: ok, Count: n}
	if !ok {
		t.RetryAt = time.Unix(0, retry)
	}
	return t, nil
}

// Members lists the set's members remembered within keep before now.
func (l eventLog) Members(ctx context.Context, key string, now time.Time, keep time.Duration) ([]string, error) {
	ctx, cancel := l.s.call(ctx)
	defer cancel()
	ms, err := l.s.client.ZRangeByScore(ctx, l.key(key), &goredis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now.Add(-keep).UnixMilli(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, l.s.fail("redis.limits.Members", err)
	}
	return ms, nil
}
