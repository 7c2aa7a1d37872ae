package contracts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Spec is an OpenAPI 3.1 document, enough of it to list its operations
// and to validate response bodies against their schemas.
type Spec struct {
	file     string
	base     string // the first server's URL path, "" for the root
	paths    []specPath
	compiler *jsonschema.Compiler
	docURL   string
}

type specPath struct {
	template string
	re       *regexp.Regexp
	methods  map[string]bool
}

// LoadSpec reads an OpenAPI document (YAML).
func LoadSpec(file string) (*Spec, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Servers []struct{ URL string } `yaml:"servers"`
		Paths   map[string]map[string]any
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	abs, err := filepath.Abs(file) // the schema compiler resolves $refs against an absolute URL
	if err != nil {
		return nil, err
	}
	s := &Spec{file: file, docURL: "file:///" + strings.TrimLeft(filepath.ToSlash(abs), "/")}
	if len(doc.Servers) > 0 {
		s.base = strings.TrimRight(doc.Servers[0].URL, "/")
	}
	for tmpl, ops := range doc.Paths {
		p := specPath{template: tmpl, methods: map[string]bool{}, re: templateRE(tmpl)}
		for m := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete", "head", "options":
				p.methods[strings.ToUpper(m)] = true
			}
		}
		s.paths = append(s.paths, p)
	}
	sort.Slice(s.paths, func(i, j int) bool { return s.paths[i].template < s.paths[j].template })
	// The schema compiler wants JSON values: YAML -> any -> JSON -> its own decoder.
	var generic any
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		return nil, err
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return nil, fmt.Errorf("%s: not representable as JSON: %w", file, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, err
	}
	s.compiler = jsonschema.NewCompiler()
	s.compiler.DefaultDraft(jsonschema.Draft2020)
	if err := s.compiler.AddResource(s.docURL, inst); err != nil {
		return nil, err
	}
	return s, nil
}

func templateRE(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, part := range regexp.MustCompile(`\{[^}]+\}|[^{]+`).FindAllString(tmpl, -1) {
		if strings.HasPrefix(part, "{") {
			b.WriteString(`[^/]+`)
		} else {
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Operations lists "METHOD /template" for every operation, sorted.
func (s *Spec) Operations() []string {
	var ops []string
	for _, p := range s.paths {
		for m := range p.methods {
			ops = append(ops, m+" "+p.template)
		}
	}
	sort.Strings(ops)
	return ops
}

// ValidateResponse checks a JSON response body against the schema of the
// operation serving method and urlPath (a full path, with the server's
// base and a query), for the given status.
func (s *Spec) ValidateResponse(method, urlPath string, status int, body []byte) error {
	path, _, _ := strings.Cut(urlPath, "?")
	rel := strings.TrimPrefix(path, s.base)
	if s.base != "" && rel == path {
		return fmt.Errorf("%s: %s is outside the server URL %s", s.file, path, s.base)
	}
	if rel == "" {
		rel = "/"
	}
	for _, p := range s.paths {
		if !p.re.MatchString(rel) {
			continue
		}
		if !p.methods[method] {
			return fmt.Errorf("%s: %s %s is not in the contract", s.file, method, p.template)
		}
		ptr := "#/paths/" + escapePointer(p.template) + "/" + strings.ToLower(method) +
			"/responses/" + strconv.Itoa(status) + "/content/application~1json/schema"
		sch, err := s.compiler.Compile(s.docURL + ptr)
		if err != nil {
			return fmt.Errorf("%s: no schema for %s %s %d: %w", s.file, method, p.template, status, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("response to %s %s is not JSON: %w", method, path, err)
		}
		if err := sch.Validate(inst); err != nil {
			return fmt.Errorf("response to %s %s does not match %s: %v", method, path, s.file, err)
		}
		return nil
	}
	return fmt.Errorf("%s: no path matches %s", s.file, rel)
}

func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
