package v1

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"legacyauth/core"
)

// specPath is relative to this package's directory, where go test runs.
var specPath = filepath.Join("..", "..", "contracts", "canonical.yaml")

type spec struct {
	OpenAPI    string                                `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node       `yaml:"paths"`
	Components struct{ Schemas map[string]specEnum } `yaml:"components"`
}

type specEnum struct {
	Enum []string `yaml:"enum"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatalf("read the contract: %v", err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("parse %s: %v", specPath, err)
	}
	if !strings.HasPrefix(s.OpenAPI, "3.1") {
		t.Fatalf("%s: openapi %q, want 3.1.x", specPath, s.OpenAPI)
	}
	return s
}

// httpMethods are the keys of an OpenAPI path item that name operations;
// the others (summary, parameters, ...) are not routes.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestContractMatchesRoutes fails when the API serves a route the contract
// does not describe, or the contract describes one the API does not serve.
func TestContractMatchesRoutes(t *testing.T) {
	s := loadSpec(t)
	inSpec := map[Route]bool{}
	for path, item := range s.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				inSpec[Route{Method: strings.ToUpper(key), Path: path}] = true
			}
		}
	}
	served := map[Route]bool{}
	for _, rt := range New(nil, nil).Routes() {
		served[rt] = true
		if !inSpec[rt] {
			t.Errorf("%s %s is served but missing from %s", rt.Method, rt.Path, specPath)
		}
	}
	for rt := range inSpec {
		if !served[rt] {
			t.Errorf("%s %s is in %s but not served", rt.Method, rt.Path, specPath)
		}
	}
	if len(served) == 0 {
		t.Fatal("Routes() is empty")
	}
}

// TestContractListsEveryCode keeps the contract's list of problem codes
// equal to what the API can write.
func TestContractListsEveryCode(t *testing.T) {
	got := loadSpec(t).Components.Schemas["ProblemCode"].Enum
	want := Codes()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ProblemCode enum in %s = %v, want %v", specPath, got, want)
	}
}

// TestEveryKindMapped fails when core gains a kind this API has no status
// or title for.
func TestEveryKindMapped(t *testing.T) {
	for _, k := range core.Kinds() {
		if _, ok := kindStatus[k]; !ok {
			t.Errorf("kind %s has no HTTP status", k)
		}
		if _, ok := titles[k.String()]; !ok {
			t.Errorf("kind %s has no problem title", k)
		}
	}
	for _, c := range Codes() {
		if _, ok := titles[c]; !ok {
			t.Errorf("code %s has no problem title", c)
		}
	}
}
