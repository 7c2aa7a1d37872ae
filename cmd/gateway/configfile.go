package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The configuration file holds the settings that outgrow flags (mounts,
// switches, limits, deprecation), in YAML. Every setting has a place in it,
// derived from its flag name:
//
//	listen: ":8080"                      # --listen
//	dialects:
//	  apiv4:
//	    enabled: true                    # --apiv4
//	    prefix: /api/v4.0                # --apiv4-prefix
//	    sunset: 2027-01-01T00:00:00Z     # --apiv4-sunset
//	limits:
//	  enabled: true                      # --limits (on/off)
//	  sms_phone: 5-H                     # --limit-sms-phone
//
// Underscores and dashes are the same in keys. Precedence: flags, then the
// environment, then the file, then the defaults. config.example.yaml in
// the repository documents every key.

// flagForPath maps a key path in the file to a flag name.
func flagForPath(path []string) string {
	norm := make([]string, len(path))
	for i, p := range path {
		norm[i] = strings.ReplaceAll(p, "_", "-")
	}
	switch {
	case len(norm) == 3 && norm[0] == "dialects" && norm[2] == "enabled":
		return norm[1]
	case len(norm) == 3 && norm[0] == "dialects":
		return norm[1] + "-" + norm[2]
	case len(norm) == 2 && norm[0] == "limits" && norm[1] == "enabled":
		return "limits"
	case len(norm) == 2 && norm[0] == "limits":
		return "limit-" + norm[1]
	}
	return strings.Join(norm, "-")
}

// fileError is one problem in a configuration file, with its place.
type fileError struct {
	file         string
	line, column int
	msg          string
}

func (e fileError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.column, e.msg)
}

// applyFile sets every setting the file names. It reports every problem,
// each with its line and column, not just the first.
func applyFile(file string, rows []setting) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(bytes.TrimSpace(data)) == 0 || len(doc.Content) == 0 {
		return nil
	}
	byFlag := map[string]setting{}
	for _, s := range rows {
		byFlag[s.flag] = s
	}
	var errs []error
	seen := map[string]bool{}
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		fail := func(at *yaml.Node, format string, a ...any) {
			errs = append(errs, fileError{file, at.Line, at.Column, fmt.Sprintf(format, a...)})
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], append(append([]string(nil), path...), n.Content[i].Value))
			}
		case yaml.ScalarNode:
			name := flagForPath(path)
			s, ok := byFlag[name]
			if !ok || name == "config" {
				fail(n, "unknown setting %q", strings.Join(path, "."))
				return
			}
			if seen[name] {
				fail(n, "%q is set twice", strings.Join(path, "."))
				return
			}
			seen[name] = true
			value := n.Value
			if n.Tag == "!!null" {
				value = ""
			}
			if err := s.set(value); err != nil {
				fail(n, "%s: %v", strings.Join(path, "."), err)
			}
		default:
			fail(n, "%s: want a value or a mapping", strings.Join(path, "."))
		}
	}
	walk(doc.Content[0], nil)
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool {
			a, b := errs[i].(fileError), errs[j].(fileError)
			return a.line < b.line || a.line == b.line && a.column < b.column
		})
	}
	return errors.Join(errs...)
}

// configFileArg finds --config in args (before flags are parsed, since the
// file sits below the environment and the flags).
func configFileArg(args []string, getenv func(string) string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return getenv("GATEWAY_CONFIG")
}

// configCheck validates a configuration file: `gateway config check FILE`.
func configCheck(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: gateway config check FILE")
	}
	c := &Config{}
	rows := settings(c)
	for _, s := range rows {
		if err := s.set(s.def); err != nil {
			return err
		}
	}
	if err := applyFile(args[0], rows); err != nil {
		return err
	}
	return c.validate()
}
