package oldserver

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// apiv4 serves the Flask 0.10 server of seed 001 under /api/v4.0.
// Parameters are Flask's request.values: the query string and a form body
// (urlencoded or multipart); a JSON body is not read. It sends no SMS and
// checks no code (the document says so), and /forget_password resets any
// registered phone's password. A wrong method or an unknown path gets
// Werkzeug's HTML error page.
func (s *Server) apiv4(w http.ResponseWriter, r *http.Request, path string) {
	var methods []string
	var arg string
	switch {
	case strings.HasPrefix(path, "/sendsms/"):
		arg, methods = strings.TrimPrefix(path, "/sendsms/"), []string{"POST", "GET"}
	case strings.HasPrefix(path, "/isregister/"):
		arg, methods = strings.TrimPrefix(path, "/isregister/"), []string{"GET"}
	case path == "/register", path == "/login", path == "/forget_password":
		methods = []string{"POST", "GET"}
	case path == "/verify_code":
		methods = []string{"GET"}
	}
	if methods == nil || strings.Contains(arg, "/") || (strings.Count(path, "/") == 2 && arg == "") {
		werkzeugError(w, http.StatusNotFound, "Not Found", "The requested URL was not found on the server.  If you entered the URL manually please check your spelling and try again.")
		return
	}
	allowed := false
	for _, m := range methods {
		allowed = allowed || r.Method == m || (m == "GET" && r.Method == http.MethodHead)
	}
	if !allowed {
		allow := append(methods, "HEAD", "OPTIONS")
		w.Header().Set("Allow", strings.Join(allow, ", "))
		werkzeugError(w, http.StatusMethodNotAllowed, "Method Not Allowed", "The method is not allowed for the requested URL.")
		return
	}
	v := formValues(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(path, "/sendsms/"):
		registered := s.users[arg] != nil
		switch expect := v.Get("expect"); {
		case expect != "1" && registered:
			flask(w, r, -1, "", "手机号已经被注册")
		case expect == "1" && !registered:
			flask(w, r, -1, "", "手机号未注册")
		default:
			// "目前不发送短信": nothing is sent, nothing kept.
			writeFlask(w, r, ordered("code", "200", "msg", "发送成功"))
		}
	case strings.HasPrefix(path, "/isregister/"):
		registered := s.users[arg] != nil
		switch expect := v.Get("expect"); {
		case expect == "1" && registered:
			flask(w, r, 200, "", "手机号已注册")
		case expect == "1":
			flask(w, r, -1, "", "手机号未注册")
		case registered:
			flask(w, r, -1, "", "手机号已经被注册")
		default:
			flask(w, r, 200, "", "手机号未注册")
		}
	case path == "/register":
		phone := v.Get("phone")
		if s.users[phone] != nil {
			flask(w, r, -1, "", "手机号已经被注册")
			return
		}
		u := &User{ID: s.opts.Token(), Phone: phone, Password: v.Get("password"), Name: v.Get("name"), DeviceID: v.Get("device_identifier")}
		s.users[phone] = u
		flask(w, r, 200, map[string]any{
			"apply": map[string]any{}, "change_device": false, "enterprise_id": -1,
			"name": u.Name, "token": s.opts.Token(), "user_id": u.ID,
		}, "注册成功")
	case path == "/login":
		u := s.users[v.Get("phone")]
		if u == nil || u.Password != v.Get("password") {
			flask(w, r, -1, "", "手机号或密码错误")
			return
		}
		device := v.Get("device_identifier")
		changed := device != "" && u.DeviceID != "" && device != u.DeviceID
		if device != "" {
			u.DeviceID = device
		}
		flask(w, r, 200, map[string]any{
			"apply": map[string]any{}, "change_device": changed, "enterprise_id": "-1",
			"name": u.Name, "token": s.opts.Token(), "user_id": u.ID,
		}, "登录成功")
	case path == "/verify_code":
		if v.Get("phone") == "" || v.Get("code") == "" {
			flask(w, r, -1, "", "验证码错误")
			return
		}
		flask(w, r, 200, "", "验证码正确")
	case path == "/forget_password":
		u := s.users[v.Get("phone")]
		if u == nil {
			flask(w, r, -1, "", "手机号未注册")
			return
		}
		u.Password = v.Get("password")
		flask(w, r, 200, "", "修改成功")
	}
}

// flask writes jsonify(code=code, data=data, msg=msg).
func flask(w http.ResponseWriter, r *http.Request, code int, data any, msg string) {
	writeFlask(w, r, map[string]any{"code": code, "data": data, "msg": msg})
}

// writeFlask renders v as Flask 0.10's jsonify did: sorted keys, indent 2,
// except one line for an XMLHttpRequest (werkzeug's is_xhr).
func writeFlask(w http.ResponseWriter, r *http.Request, v any) {
	indent := 2
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		indent = 0
	}
	b := dumps(v, indent)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// werkzeugError writes Werkzeug 0.10's HTML error page.
func werkzeugError(w http.ResponseWriter, status int, title, text string) {
	body := "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 3.2 Final//EN\">\n<title>" +
		strconv.Itoa(status) + " " + title + "</title>\n<h1>" + title + "</h1>\n<p>" + text + "</p>\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// formValues merges the query string and a form body, urlencoded or
// multipart (the first value of each name), as Flask's request.values
// and Pyramid's request.params did.
func formValues(r *http.Request) url.Values {
	v, _ := url.ParseQuery(r.URL.RawQuery)
	if v == nil {
		v = url.Values{}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		f, _ := url.ParseQuery(string(body))
		for k, vs := range f {
			v[k] = append(v[k], vs...)
		}
	case "multipart/form-data":
		if r.ParseMultipartForm(8<<20) == nil {
			for k, vs := range r.MultipartForm.Value {
				v[k] = append(v[k], vs...)
			}
		}
	}
	return v
}
