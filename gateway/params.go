package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"legacyauth/core"
)

// Sources says where a dialect's old server read parameters from.
type Sources uint8

const (
	Query     Sources = 1 << iota // the URL's query string
	Form                          // an application/x-www-form-urlencoded body
	JSON                          // a JSON object body, every value a string; trailing commas tolerated
	Multipart                     // a multipart/form-data body (files in Params.Files)
	// AnyTypeJSON reads the body as JSON whatever its Content-Type says
	// (besides form and multipart), for clients that send text/plain.
	AnyTypeJSON
)

// Params are a request's parameters, one value per name.
type Params struct {
	values []param        // in the order first seen
	index  map[string]int // name → position in values, once there are many
	Files  map[string]File
}

type param struct{ name, value string }

// File is an uploaded file, held in memory (the body is already bounded).
type File struct {
	Name string // the client's file name; never used as a path
	Data []byte
}

// indexFrom is how many parameters a linear search looks through before
// Params keeps an index: requests carry a handful (no map to allocate),
// a hostile one thousands (no quadratic duplicate check).
const indexFrom = 16

// NewParams returns parameters holding the given name, value pairs, for
// callers that build a request's parameters themselves.
func NewParams(kv ...string) Params {
	var p Params
	for i := 0; i+1 < len(kv); i += 2 {
		p.set(kv[i], kv[i+1])
	}
	return p
}

// Get returns a parameter's value, "" when absent.
func (p Params) Get(name string) string {
	if i := p.find(name); i >= 0 {
		return p.values[i].value
	}
	return ""
}

// find returns name's position in p.values, -1 when absent.
func (p *Params) find(name string) int {
	if p.index != nil {
		if i, ok := p.index[name]; ok {
			return i
		}
		return -1
	}
	for i := range p.values {
		if p.values[i].name == name {
			return i
		}
	}
	return -1
}

// set gives name the value, replacing any it had.
func (p *Params) set(name, value string) {
	if i := p.find(name); i >= 0 {
		p.values[i].value = value
		return
	}
	p.push(name, value)
}

// push appends a name p does not hold yet.
func (p *Params) push(name, value string) {
	if p.values == nil {
		p.values = make([]param, 0, 4)
	}
	p.values = append(p.values, param{name, value})
	switch {
	case p.index != nil:
		p.index[name] = len(p.values) - 1
	case len(p.values) > indexFrom:
		p.index = make(map[string]int, 2*len(p.values))
		for i, kv := range p.values {
			p.index[kv.name] = i
		}
	}
}

// BadInput is a request the gateway could not read: malformed, too large
// or of the wrong type. Status is the HTTP status to answer with; the core
// error (kind Invalid) carries a message a user can be shown.
type BadInput struct {
	Status int
	Err    *core.Error
}

func (b *BadInput) Error() string { return b.Err.Error() }
func (b *BadInput) Unwrap() error { return b.Err }

// HTTPStatus returns the status a dialect answers err with: BadInput's own,
// otherwise 200, because the old servers answered every business outcome
// with 200 and their own code in the body.
func HTTPStatus(err error) int {
	if b, ok := errors.AsType[*BadInput](err); ok { // errors.As's target would escape: an allocation per reply
		return b.Status
	}
	return http.StatusOK
}

func badInput(status int, msg string) *BadInput {
	return &BadInput{Status: status, Err: core.E("gateway.ReadParams", core.Invalid, msg)}
}

// ReadParams collects a request's parameters from the given sources. A name
// sent twice with different values is refused (parameter pollution); the
// same value twice is one value. Values must be valid UTF-8 without control
// characters. Errors are *BadInput.
func ReadParams(r *http.Request, src Sources) (Params, error) {
	p, _, err := readParams(r, src)
	return p, err
}

// RequestParams returns the parameters of a request to a dialect route,
// read from the route's Sources the first time it is called and kept in
// the request's Info: the migration layer (to choose a backend) and the
// handler (to serve) share one reading of the body. On the first reading
// without error, a route that serves several operations has the
// request's named (Route.Resolve, into Info.Op). Errors are ReadParams's.
// A request that did not come through a gateway route has no Sources:
// only an empty body can be read.
func RequestParams(r *http.Request) (Params, error) {
	i := infoOf(r)
	if i == nil || i.route == nil {
		p, _, err := readParams(r, 0)
		return p, err
	}
	if !i.paramsRead {
		i.params, i.body, i.paramsErr = readParams(r, i.route.Sources)
		i.paramsRead = true
		if i.paramsErr == nil && i.route.Resolve != nil {
			i.Op = i.route.Resolve(r, i.params)
		}
	}
	return i.params, i.paramsErr
}

// RequestBody returns the body RequestParams read (as far as it read it,
// when reading failed); nil before it ran or when it read none.
func RequestBody(r *http.Request) []byte {
	if i := infoOf(r); i != nil {
		return i.body
	}
	return nil
}

// readParams is ReadParams, also returning the body it read.
func readParams(r *http.Request, src Sources) (Params, []byte, error) {
	var p Params
	if src&Query != 0 {
		if err := p.addQuery(r.URL.RawQuery, "请求参数格式错误"); err != nil {
			return p, nil, err
		}
	}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return p, body, badInput(http.StatusRequestEntityTooLarge, "请求内容过大")
		}
		return p, body, badInput(http.StatusBadRequest, "请求内容读取失败")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, body, nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded" && src&Form != 0:
		return p, body, p.addQuery(string(body), "表单格式错误")
	case ct == "multipart/form-data" && src&Multipart != 0:
		return p, body, p.addMultipart(body, ctParams["boundary"])
	case src&JSON != 0 && (isJSONType(ct) || src&AnyTypeJSON != 0 && ct != "application/x-www-form-urlencoded" && ct != "multipart/form-data"):
		obj, err := decodeJSONObject(body)
		if err != nil {
			return p, body, err
		}
		for _, kv := range obj.values {
			if err := p.add(kv.name, kv.value); err != nil {
				return p, body, err
			}
		}
		return p, body, nil
	}
	return p, body, badInput(http.StatusUnsupportedMediaType, "不支持的请求内容类型")
}

func isJSONType(ct string) bool {
	return ct == "application/json" || len(ct) > 5 && ct[len(ct)-5:] == "+json"
}

// addQuery adds the parameters of a query string or form body, parsed as
// url.ParseQuery parses it but without building a url.Values (three
// allocations for a one-parameter query). As with ParseQuery followed by
// add, a malformed query is refused as such (with badSyntax) even where
// a name was also sent twice.
func (p *Params) addQuery(q, badSyntax string) error {
	if strings.Count(q, "&") >= maxQueryParams {
		return badInput(http.StatusBadRequest, badSyntax)
	}
	var firstErr error
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if strings.Contains(kv, ";") {
			return badInput(http.StatusBadRequest, badSyntax)
		}
		if kv == "" {
			continue
		}
		name, value, _ := strings.Cut(kv, "=")
		name, err1 := url.QueryUnescape(name)
		value, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return badInput(http.StatusBadRequest, badSyntax)
		}
		if err := p.add(name, value); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// maxQueryParams is url.ParseQuery's own limit (GODEBUG urlmaxqueryparams).
const maxQueryParams = 10000

func (p *Params) add(name, val string) error {
	if !cleanText(name) || !cleanText(val) {
		return badInput(http.StatusBadRequest, "请求参数含有非法字符")
	}
	if i := p.find(name); i >= 0 {
		if p.values[i].value != val {
			return badInput(http.StatusBadRequest, "参数"+name+"重复且取值不同")
		}
		return nil
	}
	p.push(name, val)
	return nil
}

// cleanText refuses invalid UTF-8 and control characters (tab included:
// no field of these contracts holds one).
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

func (p *Params) addMultipart(body []byte, boundary string) error {
	if boundary == "" {
		return badInput(http.StatusBadRequest, "表单格式错误")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badInput(http.StatusBadRequest, "表单格式错误")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return badInput(http.StatusBadRequest, "表单格式错误")
		}
		name := part.FormName()
		if part.FileName() != "" {
			if p.Files == nil {
				p.Files = map[string]File{}
			}
			if _, dup := p.Files[name]; dup {
				return badInput(http.StatusBadRequest, "文件"+name+"重复")
			}
			p.Files[name] = File{Name: part.FileName(), Data: data}
			continue
		}
		if err := p.add(name, string(data)); err != nil {
			return err
		}
	}
}

// decodeJSONObject reads a JSON object whose values are all strings,
// tolerating trailing commas (the caraccessories document's own examples
// carry them), in the order of its keys. A key repeated with another
// value is refused, as repeated query and form parameters are, and so is
// a key equal to another under case folding ({"phone":A,"Phone":B}):
// encoding/json, and maybe an old server, would read them as one field.
func decodeJSONObject(body []byte) (Params, error) {
	var v Params
	var folded foldSet
	if !utf8.Valid(body) { // encoding/json would silently turn bad bytes into U+FFFD
		return v, badInput(http.StatusBadRequest, "请求参数含有非法字符")
	}
	malformed := func() error { return badInput(http.StatusBadRequest, "JSON格式错误") }
	dec := json.NewDecoder(bytes.NewReader(stripTrailingCommas(body)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return v, malformed()
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return v, malformed()
		}
		name := tok.(string) // inside an object, a token before a value is its key
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return v, malformed()
		}
		if string(raw) == "null" {
			continue // null is an absent field, so "required" reports it
		}
		var val string
		if err := json.Unmarshal(raw, &val); err != nil {
			return v, badInput(http.StatusBadRequest, "参数"+name+"必须是字符串")
		}
		i := v.find(name)
		if i < 0 {
			i = folded.find(v.values, name)
		}
		switch {
		case i < 0 || v.values[i].name != name && v.values[i].value == val:
			v.push(name, val)
			folded.add(name, len(v.values)-1)
		case v.values[i].value != val:
			return v, badInput(http.StatusBadRequest, "参数"+name+"重复且取值不同")
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return v, malformed()
	}
	if _, err := dec.Token(); err != io.EOF { // nothing may follow the object
		return v, malformed()
	}
	return v, nil
}

// foldSet finds names equal under case folding (strings.EqualFold, as
// encoding/json matches names). Like Params, it searches linearly through
// a handful of names and keeps a map of folded names only for many, so
// neither the common request allocates nor a hostile one costs quadratic
// time.
type foldSet struct{ m map[string]int }

// find returns the position in values of the first name equal to name
// under case folding, -1 when there is none.
func (f *foldSet) find(values []param, name string) int {
	if f.m == nil {
		if len(values) < indexFrom {
			for i := range values {
				if strings.EqualFold(values[i].name, name) {
					return i
				}
			}
			return -1
		}
		f.m = make(map[string]int, 2*len(values))
		for i := len(values) - 1; i >= 0; i-- { // the first of equal names wins
			f.m[foldKey(values[i].name)] = i
		}
	}
	if i, ok := f.m[foldKey(name)]; ok {
		return i
	}
	return -1
}

// add records that values[i] holds name, once f keeps a map.
func (f *foldSet) add(name string, i int) {
	if f.m == nil {
		return
	}
	k := foldKey(name)
	if _, found := f.m[k]; !found {
		f.m[k] = i
	}
}

// foldKey returns a string equal for exactly the names strings.EqualFold
// finds equal: each rune is replaced by the least of its case-folding
// orbit (as encoding/json does), then ASCII is lower-cased, so a name
// already in lower-case ASCII is returned as it is, without allocating.
func foldKey(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = leastFold(r)
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// leastFold returns the least rune of r's case-folding orbit: SimpleFold
// walks the orbit upwards and wraps round to it.
func leastFold(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}

// CheckJSONText refuses JSON text that encoding/json would silently alter
// rather than reject: invalid UTF-8 (decoded as U+FFFD) and a top-level key
// repeated with another value (the last one would win), also when the
// repeat differs only in case ({"phone":A,"Phone":B}: encoding/json binds
// both to one field). Other malformations are left for the decoder to
// report.
func CheckJSONText(body []byte) error {
	if !utf8.Valid(body) {
		return errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	type field struct {
		name string
		raw  json.RawMessage
	}
	seen := map[string]field{} // by foldKey
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil
		}
		name := tok.(string)
		key := foldKey(name)
		old, dup := seen[key]
		switch {
		case !dup:
			seen[key] = field{name, raw}
		case bytes.Equal(old.raw, raw):
		case old.name == name:
			return fmt.Errorf("%q is repeated with another value", name)
		default:
			return fmt.Errorf("%q and %q differ only in case, with other values", old.name, name)
		}
	}
	return nil
}

// stripTrailingCommas removes commas that only whitespace separates from a
// closing brace or bracket, outside strings.
func stripTrailingCommas(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
		}
		if c == ',' {
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && (b[j] == '}' || b[j] == ']') {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// FieldNames returns the names of a request's parameters in its query and
// body (form, JSON or multipart), for detecting its dialect. Unreadable
// parts contribute nothing.
func FieldNames(r *http.Request, body []byte) map[string]bool {
	names := map[string]bool{}
	// ParseQuery returns what it could read along with an error about the
	// rest; a bad escape in one value must not hide the other names.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	for n := range q {
		names[n] = true
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		v, _ := url.ParseQuery(string(body))
		for n := range v {
			names[n] = true
		}
	case ct == "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), ctParams["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			names[part.FormName()] = true
		}
	default:
		var raw map[string]json.RawMessage
		if json.Unmarshal(stripTrailingCommas(body), &raw) == nil {
			for n := range raw {
				names[n] = true
			}
		}
	}
	return names
}
