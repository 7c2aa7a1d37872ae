package migrate

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Mode says who answers a dialect's (or an operation's) requests.
type Mode string

const (
	Core   Mode = "core"   // the core (the default)
	Proxy  Mode = "proxy"  // the old server
	Shadow Mode = "shadow" // the old server, compared with the core in the background
	Split  Mode = "split"  // a share of phones by the core, the rest by the old server
)

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case Core, Proxy, Shadow, Split:
		return m, nil
	}
	return "", fmt.Errorf("want core, proxy, shadow or split, not %q", s)
}

// ParseModes reads per-operation modes, "login=shadow,registration=proxy",
// checking each operation against the dialect's ("" is none). A dialect
// without a Wire (nil) has no operation to name.
func ParseModes(w Wire, s string) (map[string]Mode, error) {
	modes := map[string]Mode{}
	var known []string
	if w != nil {
		known = Ops(w)
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		op, name, found := strings.Cut(item, "=")
		op = strings.TrimSpace(op)
		if !found {
			return nil, fmt.Errorf("want operation=mode, not %q", item)
		}
		m, err := ParseMode(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if !slices.Contains(known, op) {
			if w == nil {
				return nil, fmt.Errorf("this dialect cannot be migrated: it has no operation %q", op)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%s has no operation %q (it has %s)", w.Name(), op, strings.Join(known, ", "))
		}
		if _, dup := modes[op]; dup {
			return nil, fmt.Errorf("%s is given twice", op)
		}
		modes[op] = m
	}
	return modes, nil
}

// ParseUpstream reads an old server's base URL: http or https, a host, an
// optional base path, no query or fragment. "" is none (nil).
func ParseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("want an http(s) URL such as http://old:8080, without query or credentials")
	}
	return u, nil
}

// ParseSteps reads a rollout schedule, "1,5,25,50,100" ("" is none).
func ParseSteps(s string) ([]int, error) {
	var steps []int
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(item, "%"))
		if err != nil {
			return nil, fmt.Errorf("want percentages such as 1,5,25,50,100, not %q", item)
		}
		steps = append(steps, n)
	}
	return steps, CheckSteps(steps)
}

// Dialect configures one dialect.
type Dialect struct {
	// Wire is the dialect's wire knowledge (the mounted gateway.Dialect,
	// when it implements Wire); required.
	Wire  Wire
	Mode  Mode            // "" is Core
	Modes map[string]Mode // per operation, overriding Mode
	// Upstream is the old server's base URL; the request's path and query
	// are appended as sent. Needed by every mode but Core, and with Core
	// it turns lazy migration on.
	Upstream *url.URL
	// SplitPercent is the share of phones (0-100) the core serves in
	// Split mode, until the shared state says otherwise.
	SplitPercent int
	// Rollout is the schedule of split percentages (rising, 1-100) the
	// split tracks walk while the gates hold (RolloutOptions); empty: the
	// percentage changes only by an operator's command.
	Rollout []int
}

// ModeOf is the mode an operation runs in.
func (d Dialect) ModeOf(op string) Mode {
	if m, found := d.Modes[op]; found {
		return m
	}
	if d.Mode == "" {
		return Core
	}
	return d.Mode
}
