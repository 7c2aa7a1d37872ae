package v1

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"legacyauth/core"
	"legacyauth/gateway"
)

// avatarSlack is what a multipart envelope may add around a full-size image.
const avatarSlack = 64 << 10

// User is a user as the API shows it. Every field is always present, empty
// when unknown, so clients see one shape.
type User struct {
	ID       string `json:"id"`
	Phone    string `json:"phone"` // E.164
	Name     string `json:"name"`
	Nickname string `json:"nickname"`
	Gender   string `json:"gender"` // "0" female, "1" male, "" unknown
	Avatar   string `json:"avatar"`
}

func userOf(u *core.User) User {
	return User{ID: u.ID, Phone: u.Phone, Name: u.Name, Nickname: u.Nickname, Gender: u.Gender, Avatar: u.Avatar}
}

// The header values every JSON reply carries (gateway.HeaderValue).
var (
	hvJSON    = gateway.HeaderValue("application/json")
	hvProblem = gateway.HeaderValue("application/problem+json")
	hvNoStore = gateway.HeaderValue("no-store")
	hvNosniff = gateway.HeaderValue("nosniff")
)

// writeJSON replies with v. Replies carry tokens or personal data, so no
// cache may keep them.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return core.Wrap("v1.writeJSON", core.Internal, err)
	}
	writeBody(w, status, hvJSON, append(body, '\n'))
	return nil
}

// bodyPool holds the buffers of the replies written without
// encoding/json (the introspection reply and problems, the most frequent
// ones): 512 bytes per request otherwise.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// putBody returns a buffer to bodyPool, unless a huge reply grew it.
func putBody(buf *[]byte) {
	if cap(*buf) <= 4<<10 {
		bodyPool.Put(buf)
	}
}

// writeBody replies with a body already encoded (newline included) of
// the content type (hvJSON or hvProblem), with every /v1 reply's headers.
func writeBody(w http.ResponseWriter, status int, contentType []string, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = hvNoStore
	h["X-Content-Type-Options"] = hvNosniff
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func parsePurpose(s string, allowAny bool) (core.Purpose, error) {
	p, ok := core.ParsePurpose(s)
	if !ok || (!allowAny && (p == core.PurposeAny || p == core.PurposeDelete)) { // a ticket serves no deletion
		if allowAny {
			return 0, invalid(`purpose must be "register", "reset", "delete" or "any"`)
		}
		return 0, invalid(`purpose must be "register" or "reset"`)
	}
	return p, nil
}

// proof builds a core.Proof from a request's code or ticket; exactly one
// must be given, so a client never wonders which one counted.
func proof(code, ticket string) (core.Proof, error) {
	switch {
	case code != "" && ticket != "":
		return core.Proof{}, invalid("send either code or ticket, not both")
	case code == "" && ticket == "":
		return core.Proof{}, invalid("a code or a ticket is required")
	}
	return core.Proof{Code: code, Ticket: ticket}, nil
}

func (a *API) sendCode(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone   string `json:"phone"`
		Purpose string `json:"purpose"`
		Length  int    `json:"length"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	// The core accepts 4 and 5 digits for the legacy apps that show them;
	// a new client gets no weaker code than the default.
	if req.Length != 0 && (req.Length < 6 || req.Length > 10) {
		return invalid("length must be 6 to 10 digits")
	}
	purpose, err := parsePurpose(req.Purpose, true)
	if err != nil {
		return err
	}
	res, err := a.svc.SendCode(r.Context(), core.SendCodeRequest{Phone: req.Phone, Purpose: purpose, Length: req.Length, Dialect: "v1"})
	if err != nil {
		return err
	}
	// The code itself is never returned: it must travel by SMS only.
	return writeJSON(w, http.StatusOK, struct {
		Phone     string    `json:"phone"`
		ExpiresAt time.Time `json:"expires_at"`
	}{res.Phone, res.ExpiresAt.UTC()})
}

func (a *API) verifyCode(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone   string `json:"phone"`
		Purpose string `json:"purpose"`
		Code    string `json:"code"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	// "any" is refused: a ticket is spent by registration or reset, each
	// of which takes only a ticket of its own purpose.
	purpose, err := parsePurpose(req.Purpose, false)
	if err != nil {
		return err
	}
	ticket, err := a.svc.VerifyCode(r.Context(), core.VerifyCodeRequest{Phone: req.Phone, Purpose: purpose, Code: req.Code})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Ticket string `json:"ticket"`
	}{ticket})
}

func (a *API) lookupPhone(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone string `json:"phone"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	registered, err := a.svc.IsRegistered(r.Context(), req.Phone)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Phone      string `json:"phone"`
		Registered bool   `json:"registered"`
	}{c.phone, registered})
}

// validAvatarRef accepts an empty avatar or a url POST /v1/avatars
// returned, so a profile never points a client at another site, at another
// endpoint of this one, or at a made-up name; core then checks that the
// name is a stored upload.
func validAvatarRef(s string) bool {
	if s == "" {
		return true
	}
	name, ok := core.AvatarName(s)
	return ok && s == "/v1/avatars/"+name
}

func (a *API) register(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone    string `json:"phone"`
		Password string `json:"password"`
		Code     string `json:"code"`
		Ticket   string `json:"ticket"`
		Name     string `json:"name"`
		Nickname string `json:"nickname"`
		Gender   string `json:"gender"`
		Avatar   string `json:"avatar"`
		DeviceID string `json:"device_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	pr, err := proof(req.Code, req.Ticket)
	if err != nil {
		return err
	}
	if !validAvatarRef(req.Avatar) {
		return invalid("avatar must be the url returned by POST /v1/avatars")
	}
	res, err := a.svc.Register(r.Context(), core.RegisterRequest{
		Phone:    req.Phone,
		Password: req.Password,
		Proof:    pr,
		Profile:  core.Profile{Name: req.Name, Nickname: req.Nickname, Gender: req.Gender, Avatar: req.Avatar},
		DeviceID: req.DeviceID,
	})
	if err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "user registered", "user_id", res.User.ID, "phone", core.MaskPhone(res.User.Phone))
	return writeJSON(w, http.StatusCreated, struct {
		User      User      `json:"user"`
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}{userOf(&res.User), res.Token, res.ExpiresAt.UTC()})
}

func (a *API) login(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone    string `json:"phone"`
		Password string `json:"password"`
		DeviceID string `json:"device_id"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	res, err := a.svc.Login(r.Context(), core.LoginRequest{Phone: req.Phone, Password: req.Password, DeviceID: req.DeviceID})
	if err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "user logged in", "user_id", res.User.ID, "phone", core.MaskPhone(res.User.Phone), "device_changed", res.DeviceChanged)
	return writeJSON(w, http.StatusCreated, struct {
		User          User      `json:"user"`
		Token         string    `json:"token"`
		ExpiresAt     time.Time `json:"expires_at"`
		DeviceChanged bool      `json:"device_changed"`
	}{userOf(&res.User), res.Token, res.ExpiresAt.UTC(), res.DeviceChanged})
}

// authenticate checks the request's bearer token. A request without one is
// refused here, without a store lookup. tokenSent tells the 401 to carry
// error="invalid_token": RFC 6750 reserves it for a Bearer credential that
// was presented.
func (a *API) authenticate(r *http.Request, c *call) (token string, u *core.User, s *core.Session, err error) {
	const op = "v1.authenticate"
	hdr := r.Header.Values("Authorization")
	switch {
	case len(hdr) == 0:
		return "", nil, nil, core.E(op, core.Unauthorized, "a bearer token is required")
	case len(hdr) > 1:
		c.tokenSent = true
		return "", nil, nil, core.E(op, core.Unauthorized, "send one Authorization header")
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(hdr[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") { // schemes are case-insensitive (RFC 9110 11.1)
		return "", nil, nil, core.E(op, core.Unauthorized, `the Authorization header must be "Bearer <token>"`)
	}
	c.tokenSent = true
	u, s, err = a.svc.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return "", nil, nil, err
	}
	c.phone = u.Phone
	return strings.TrimSpace(token), u, s, nil
}

func (a *API) introspect(w http.ResponseWriter, r *http.Request, c *call) error {
	_, u, s, err := a.authenticate(r, c)
	if err != nil {
		return err
	}
	expires := s.ExpiresAt.UTC()
	buf := bodyPool.Get().(*[]byte)
	defer putBody(buf) // Write has copied it by then
	if body, ok := appendIntrospection((*buf)[:0], true, userOf(u), expires); ok {
		*buf = append(body, '\n')
		writeBody(w, http.StatusOK, hvJSON, *buf)
		return nil
	}
	return writeJSON(w, http.StatusOK, struct {
		Active    bool      `json:"active"`
		User      User      `json:"user"`
		ExpiresAt time.Time `json:"expires_at"`
	}{true, userOf(u), expires})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	token, u, _, err := a.authenticate(r, c)
	if err != nil {
		return err
	}
	if err := a.svc.Logout(r.Context(), token); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "user logged out", "user_id", u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Phone    string `json:"phone"`
		Password string `json:"password"`
		Code     string `json:"code"`
		Ticket   string `json:"ticket"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c.setPhone(req.Phone)
	pr, err := proof(req.Code, req.Ticket)
	if err != nil {
		return err
	}
	if err := a.svc.ResetPassword(r.Context(), core.ResetRequest{Phone: req.Phone, Password: req.Password, Proof: pr}); err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "password reset", "phone", core.MaskPhone(c.phone))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) uploadAvatar(w http.ResponseWriter, r *http.Request, c *call) error {
	data, err := readAvatar(w, r)
	if err != nil {
		return err
	}
	name, err := a.svc.StoreAvatar(r.Context(), data)
	if err != nil {
		return err
	}
	url := "/v1/avatars/" + name
	w.Header().Set("Location", url)
	return writeJSON(w, http.StatusCreated, struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	}{name, url})
}

// readAvatar takes the image from a raw body or from the multipart field
// img or file (the names legacy clients already use). The declared type
// is only a framing hint: core sniffs the content.
func readAvatar(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	const limit = core.MaxAvatarBytes + avatarSlack
	if r.ContentLength > limit {
		return nil, tooLarge(core.MaxAvatarBytes)
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, invalid("multipart/form-data needs a boundary")
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, invalid(`the multipart body has no "img" or "file" field`)
			}
			if err != nil {
				return nil, readError(err, "the multipart body is malformed")
			}
			if n := p.FormName(); n == "img" || n == "file" {
				return readImage(p)
			}
		}
	case err == nil && (strings.HasPrefix(mt, "image/") || mt == "application/octet-stream"):
		return readImage(body)
	}
	return nil, &httpProblem{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		`send the image as the body (image/* or application/octet-stream) or as multipart/form-data field "img" or "file"`}
}

func readImage(rd io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(rd, core.MaxAvatarBytes+1))
	if err != nil {
		return nil, readError(err, "the body could not be read")
	}
	if len(data) > core.MaxAvatarBytes {
		return nil, tooLarge(core.MaxAvatarBytes)
	}
	return data, nil
}

func readError(err error, detail string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(core.MaxAvatarBytes)
	}
	return invalid(detail)
}

func (a *API) avatar(w http.ResponseWriter, r *http.Request, c *call) error {
	ct, body, err := a.svc.Avatar(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		return err
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	// A name is never reused for other content, so caches may keep it.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		// Too late for a problem reply: the status is sent.
		a.log.DebugContext(r.Context(), "avatar copy failed", "err", err)
	}
	return nil
}
