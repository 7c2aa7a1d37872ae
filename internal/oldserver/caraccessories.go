package oldserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
)

// caraccessories serves the servlet app of seed 000: four POST endpoints
// taking a JSON object of strings and answering {"status":<int>,"msg":...}.
//
// Open points, decided for the double: a body that is not a JSON object
// reads as no fields (a servlet reading it leniently), and a wrong method
// gets Tomcat's bare 405.
func (s *Server) caraccessories(w http.ResponseWriter, r *http.Request, path string) {
	switch path {
	case "/get_verification_code", "/registration", "/login", "/forget_password":
	default:
		http.Error(w, "", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	f := jsonFields(r.Body)
	phone, code, password := f["mobile"], f["code"], f["password"]
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[phone]
	switch path {
	case "/get_verification_code":
		if !mobile.MatchString(phone) {
			carReply(w, -3, "短信发送失败")
			return
		}
		s.newCode(phone, codeLength[Caraccessories])
		carReply(w, 1, "Ok")
	case "/registration":
		if u != nil {
			carReply(w, -5, "手机号已注册")
			return
		}
		switch ok, expired := s.checkCode(phone, code); {
		case expired:
			carReply(w, -4, "验证码已过期")
		case !ok:
			carReply(w, -3, "验证码不正确")
		default:
			s.users[phone] = &User{ID: s.opts.Token(), Phone: phone, Password: password}
			s.sessionCookie(w)
			carReply(w, 1, "Ok")
		}
	case "/login":
		switch {
		case u == nil:
			carReply(w, -3, "手机号未注册")
		case u.Password != password:
			carReply(w, -4, "密码不正确")
		default:
			s.sessionCookie(w)
			carReply(w, 1, "Ok")
		}
	case "/forget_password":
		if u == nil {
			carReply(w, -3, "手机号没有注册")
			return
		}
		switch ok, expired := s.checkCode(phone, code); {
		case expired:
			carReply(w, -5, "验证码已过期")
		case !ok:
			carReply(w, -4, "验证码不正确")
		default:
			u.Password = password
			carReply(w, 1, "Ok")
		}
	}
}

// sessionCookie starts the servlet session on the context path.
func (s *Server) sessionCookie(w http.ResponseWriter) {
	path := s.prefix
	if path == "" {
		path = "/"
	}
	w.Header().Add("Set-Cookie", "JSESSIONID="+s.opts.Token()+"; Path="+path+"; HttpOnly; SameSite=Lax")
}

// carReply writes {"status":n,"msg":"..."}: compact, status first, UTF-8
// as is, no newline, the way the servlet wrote its JSON string.
func carReply(w http.ResponseWriter, status int, msg string) {
	var m bytes.Buffer
	enc := json.NewEncoder(&m)
	enc.SetEscapeHTML(false) // Jackson leaves <, > and & alone
	_ = enc.Encode(msg)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `{"status":%d,"msg":%s}`, status, bytes.TrimSuffix(m.Bytes(), []byte("\n")))
}

var trailingComma = regexp.MustCompile(`,\s*([}\]])`)

// jsonFields reads a JSON object's values as strings (numbers as written),
// tolerating the trailing commas of the document's own examples.
func jsonFields(body io.Reader) map[string]string {
	raw, _ := io.ReadAll(io.LimitReader(body, 1<<20))
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(trailingComma.ReplaceAll(raw, []byte("$1"))))
	dec.UseNumber()
	out := map[string]string{}
	if dec.Decode(&obj) != nil {
		return out
	}
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		}
	}
	return out
}
