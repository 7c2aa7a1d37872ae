package gateway

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"legacyauth/core"
	"legacyauth/internal/jsonstr"
)

// requestLine is what one request's log line says.
type requestLine struct {
	at      time.Time // when the reply was done (the direct line's time)
	info    *Info
	method  string
	path    string // as requested: masked when written
	status  int
	latency time.Duration
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// logRequest writes the request's line: straight to g.requestLog when the
// log is slog JSON (appendRequestLine writes what the JSONHandler would,
// without its generic record handling, the largest part of the request
// log's cost), through g.log otherwise.
func (g *Gateway) logRequest(ctx context.Context, l requestLine) {
	if !g.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	if g.requestLog != nil {
		buf := linePool.Get().(*[]byte)
		*buf = appendRequestLine((*buf)[:0], l)
		_, _ = g.requestLog.Write(*buf)
		if cap(*buf) <= 4<<10 { // not one grown by a huge path
			linePool.Put(buf)
		}
		return
	}
	g.log.LogAttrs(ctx, slog.LevelInfo, "request", l.attrs()...)
}

func (l requestLine) attrs() []slog.Attr {
	i := l.info
	attrs := []slog.Attr{
		slog.String("request_id", i.RequestID),
		slog.String("method", l.method),
		slog.String("path", maskPathPhones(l.path)),
		slog.String("dialect", i.Dialect),
		slog.String("op", i.Op),
		slog.String("outcome", i.Outcome),
		slog.Int("status", l.status),
		slog.String("phone", maskIfSet(i.Phone)),
		slog.Duration("latency", l.latency),
	}
	if i.Backend != "" {
		attrs = append(attrs, slog.String("backend", i.Backend))
	}
	return attrs
}

// appendRequestLine appends the line slog.NewJSONHandler (with no options
// but a level) writes for the record logRequest logs at time l.at
// (TestRequestLineMatchesJSONHandler holds it to that, byte for byte).
func appendRequestLine(b []byte, l requestLine) []byte {
	i := l.info
	b = append(b, `{"time":"`...)
	b = l.at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = jsonstr.AppendSlog(b, i.RequestID)
	b = append(b, `,"method":`...)
	b = jsonstr.AppendSlog(b, l.method)
	b = append(b, `,"path":"`...)
	b = append(appendMaskedPath(b, l.path, true), '"')
	b = append(b, `,"dialect":`...)
	b = jsonstr.AppendSlog(b, i.Dialect)
	b = append(b, `,"op":`...)
	b = jsonstr.AppendSlog(b, i.Op)
	b = append(b, `,"outcome":`...)
	b = jsonstr.AppendSlog(b, i.Outcome)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"phone":"`...)
	if i.Phone != "" { // maskIfSet's, in parts (see jsonstr.AppendSlogContents)
		head, tail := core.MaskedPhoneParts(i.Phone)
		b = jsonstr.AppendSlogContents(b, head)
		b = append(b, "****"...)
		b = jsonstr.AppendSlogContents(b, tail)
	}
	b = append(b, '"')
	b = append(b, `,"latency":`...)
	b = strconv.AppendInt(b, int64(l.latency), 10)
	if i.Backend != "" {
		b = append(b, `,"backend":`...)
		b = jsonstr.AppendSlog(b, i.Backend)
	}
	return append(b, "}\n"...)
}
