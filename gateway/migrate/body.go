package migrate

import (
	"bytes"
	"io"
	"net/http"

	"legacyauth/gateway"
)

// read buffers the body (up to the route's limit; a longer one is left
// to stream on) and, when it is complete, has the gateway read the
// parameters from it (gateway.RequestParams, which the handler then
// shares) and name the operation of a dispatching route; r.Body is left
// to read again from the start.
func (rt *route) read(r *http.Request) *request {
	req := &request{op: rt.rt.Op}
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(io.LimitReader(r.Body, rt.rt.MaxBody+1))
		req.body = buf
		req.complete = err == nil && int64(len(buf)) <= rt.rt.MaxBody
		rest := r.Body
		if req.complete {
			_ = rest.Close()
			r.Body = io.NopCloser(bytes.NewReader(buf))
		} else {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), rest), rest}
		}
	} else {
		req.complete = true
	}
	if req.complete {
		p, err := gateway.RequestParams(r)
		req.rewind(r)
		req.params, req.parsed = p, err == nil
		if req.parsed {
			req.op = gateway.InfoFrom(r.Context()).Op // as Route.Resolve named it
		}
	}
	return req
}

// rewind makes r.Body readable from the start again (after the old
// server or a parse read it); only for a complete body.
func (req *request) rewind(r *http.Request) {
	if req.complete {
		r.Body = io.NopCloser(bytes.NewReader(req.body))
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}
