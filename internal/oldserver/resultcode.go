package oldserver

import (
	"io"
	"net/http"
	"regexp"
)

// resultcode serves the Pyramid server of seed 002 at the root: /register
// (three views told apart by method and the register parameter), /upload
// and /log. Parameters are Pyramid's request.params (query string and
// form, urlencoded or multipart). Replies are {"result": ..., "message":
// ...} as json.dumps wrote them, message null where the document says
// None.
//
// As documented: the send step answers the code itself in message and
// starts the session; the verify step compares code_v (the code the app
// was given) with code (what the user typed), so it knows no phone;
// five wrong tries in one session answer "0005". Step 2 needs a session
// whose code was verified. Unknown paths and methods get waitress's plain
// 404 (the view predicates match nothing else).
func (s *Server) resultcode(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/register" && r.Method == http.MethodGet:
		s.rcSend(w, r)
	case path == "/register" && r.Method == http.MethodPost:
		v := formValues(r)
		if v.Get("register") == "1" {
			s.rcRegister(w, r, v.Get("password"), v.Get("headImage"), v.Get("gender"), v.Get("nickname"))
			return
		}
		s.rcVerify(w, r, v.Get("code_v"), v.Get("code"))
	case path == "/upload" && r.Method == http.MethodPost:
		s.rcUpload(w, r)
	case path == "/log" && r.Method == http.MethodPost:
		v := formValues(r)
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.users[v.Get("userId")]
		switch {
		case u == nil:
			rcReply(w, "0007", nil)
		case u.Password != v.Get("password"):
			rcReply(w, "0008", nil)
		default:
			t := s.opts.Token()
			rcReply(w, "0000", &t)
		}
	default:
		http.Error(w, "Not Found", http.StatusNotFound)
	}
}

func (s *Server) rcSend(w http.ResponseWriter, r *http.Request) {
	phone := formValues(r).Get("userId")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.users[phone] != nil:
		rcReply(w, "0001", nil)
	case !mobile.MatchString(phone):
		rcReply(w, "0002", nil)
	default:
		id := s.opts.Token()
		code := s.newCode(phone, codeLength[Resultcode])
		s.flows[id] = &flow{phone: phone, code: code}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: id, Path: s.cookiePath(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
		rcReply(w, "0000", &code) // the code itself, as the document says
	}
}

func (s *Server) rcVerify(w http.ResponseWriter, r *http.Request, codeV, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flowOf(r)
	if f == nil {
		f = &flow{} // a fresh session: the comparison needs none
	}
	switch {
	case f.wrong >= 5:
		rcReply(w, "0005", nil)
	case code != "" && codeV == code:
		f.verified = true
		rcReply(w, "0000", nil)
	default:
		f.wrong++
		if f.wrong >= 5 {
			rcReply(w, "0005", nil)
			return
		}
		rcReply(w, "0004", nil)
	}
}

var lettersAndDigits = regexp.MustCompile(`^(?:.*[A-Za-z].*[0-9]|.*[0-9].*[A-Za-z]).*$`)

func (s *Server) rcRegister(w http.ResponseWriter, r *http.Request, password, head, gender, nickname string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flowOf(r)
	if f == nil || !f.verified || s.users[f.phone] != nil || len(password) < 8 || !lettersAndDigits.MatchString(password) ||
		(gender != "" && gender != "0" && gender != "1") {
		rcReply(w, "0006", nil)
		return
	}
	s.users[f.phone] = &User{ID: s.opts.Token(), Phone: f.phone, Password: password, Nickname: nickname, Gender: gender, Avatar: head}
	c, _ := r.Cookie("session")
	delete(s.flows, c.Value)
	rcReply(w, "0000", nil)
}

func (s *Server) rcUpload(w http.ResponseWriter, r *http.Request) {
	if r.ParseMultipartForm(8<<20) != nil {
		rcReply(w, "0006", nil)
		return
	}
	f, _, err := r.FormFile("img")
	if err != nil {
		rcReply(w, "0006", nil)
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil || len(data) == 0 {
		rcReply(w, "0006", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := "/static/upload/" + s.opts.Token() + ".jpg"
	s.files[p] = data
	rcReply(w, "0000", &p)
}

// flowOf returns the session the request's cookie names; s.mu is held.
func (s *Server) flowOf(r *http.Request) *flow {
	c, err := r.Cookie("session")
	if err != nil {
		return nil
	}
	return s.flows[c.Value]
}

func (s *Server) cookiePath() string {
	if s.prefix == "" {
		return "/"
	}
	return s.prefix
}

// rcReply writes {"result": result, "message": message} as json.dumps did
// (message nil is None: null).
func rcReply(w http.ResponseWriter, result string, message *string) {
	var m any
	if message != nil {
		m = *message
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(dumps(ordered("result", result, "message", m), 0))
}
