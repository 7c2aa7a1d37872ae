package migrate

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
)

// Bodies are compared beyond their outcome, field by field, once each
// side's noise is known, as Diffy's noise filter does: a field whose
// value differs between two answers of the same system to the same
// request (a token, a timestamp) is noise, compared by shape only (its
// JSON type, and for a string whether it is empty, digits, hex or text).
// The core is the side that can be asked twice for free: while an
// operation is learning (its first learnComparisons comparisons of an
// outcome), a request that does not act is replayed through the core a
// second time, and the fields that differ between the two replies are
// noise. Identifiers each system mints for itself (a user id) agree
// between two answers of one system but never between the two systems:
// a field whose values never agreed between the old server and the core
// during learning (and differed at least identifierMin times) is noise
// too. A dialect may also declare noise (NoiseDeclarer). While learning,
// value differences are not counted; outcome and shape differences are.

// NoiseDeclarer is implemented by a Wire that knows fields of its replies
// that differ on every request; NoisyFields lists their paths for an
// operation, as the comparison names them ("data.token", "message").
type NoiseDeclarer interface {
	NoisyFields(op string) []string
}

const (
	learnComparisons = 20
	identifierMin    = 3
)

// noiseModel is what one dialect learnt of its replies' noise, by
// operation and outcome.
type noiseModel struct {
	mu       sync.Mutex
	declared map[string]map[string]bool // by op
	byKey    map[string]*opNoise        // by op + " " + outcome
}

type opNoise struct {
	op     string
	seen   int
	noisy  map[string]bool
	agree  map[string]int
	differ map[string]int
}

func newNoiseModel(w Wire) *noiseModel {
	n := &noiseModel{declared: map[string]map[string]bool{}, byKey: map[string]*opNoise{}}
	if d, ok := w.(NoiseDeclarer); ok {
		for _, op := range Ops(w) {
			for _, p := range d.NoisyFields(op) {
				if n.declared[op] == nil {
					n.declared[op] = map[string]bool{}
				}
				n.declared[op][p] = true
			}
		}
	}
	return n
}

func (n *noiseModel) get(op, outcome string) *opNoise {
	key := op + " " + outcome
	o := n.byKey[key]
	if o == nil {
		o = &opNoise{op: op, noisy: map[string]bool{}, agree: map[string]int{}, differ: map[string]int{}}
		n.byKey[key] = o
	}
	return o
}

// learning reports whether comparisons of op and outcome still learn (a
// second core replay is then worth it).
func (n *noiseModel) learning(op, outcome string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.get(op, outcome).seen < learnComparisons
}

// compare compares two replies whose outcomes agree; core2 is a second
// core reply to the same request, or nil. It returns the mismatch's kind,
// "" when they agree (or are not both JSON).
func (n *noiseModel) compare(op, outcome string, old, core, core2 []byte) string {
	ov, ok1 := flatten(old)
	cv, ok2 := flatten(core)
	if !ok1 || !ok2 {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.get(op, outcome)
	if c2, ok := flatten(core2); ok && core2 != nil {
		for p, v := range cv {
			if w, found := c2[p]; found && w.value != v.value {
				o.noisy[p] = true
			}
		}
	}
	learning := o.seen < learnComparisons
	if learning {
		o.seen++
		defer func() {
			if o.seen == learnComparisons {
				for p, d := range o.differ {
					if o.agree[p] == 0 && d >= identifierMin {
						o.noisy[p] = true
					}
				}
			}
		}()
	}
	paths := make([]string, 0, len(ov)+len(cv))
	for p := range ov {
		paths = append(paths, p)
	}
	for p := range cv {
		if _, found := ov[p]; !found {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	kind := ""
	for _, p := range paths {
		a, inOld := ov[p]
		b, inCore := cv[p]
		switch {
		case !inOld || !inCore:
			if kind == "" {
				kind = "field " + p
			}
			continue
		case a.shape != b.shape:
			if kind == "" {
				kind = "shape " + p
			}
			continue
		case a.value == b.value:
			if learning {
				o.agree[p]++
			}
			continue
		}
		if learning {
			o.differ[p]++
			continue
		}
		if o.noisy[p] || n.declared[op][p] {
			continue
		}
		if kind == "" {
			kind = "value " + p
		}
	}
	return kind
}

// noise lists the noisy fields learnt or declared, by operation.
func (n *noiseModel) noise() map[string][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	sets := map[string]map[string]bool{}
	add := func(op, p string) {
		if sets[op] == nil {
			sets[op] = map[string]bool{}
		}
		sets[op][p] = true
	}
	for op, ps := range n.declared {
		for p := range ps {
			add(op, p)
		}
	}
	for _, o := range n.byKey {
		for p := range o.noisy {
			add(o.op, p)
		}
	}
	out := map[string][]string{}
	for op, ps := range sets {
		out[op] = sortedKeys(ps)
	}
	return out
}

// leaf is a JSON leaf: its canonical text and its shape.
type leaf struct{ value, shape string }

// flatten reads a JSON body into its leaves by path ("data.token",
// "items.0.id"); false when the body is not JSON.
func flatten(body []byte) (map[string]leaf, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	out := map[string]leaf{}
	walk("", v, out)
	return out, true
}

func walk(path string, v any, out map[string]leaf) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = leaf{"{}", "object"}
		}
		for k, e := range x {
			walk(join(k), e, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = leaf{"[]", "array"}
		}
		for i, e := range x {
			walk(join(strconv.Itoa(i)), e, out)
		}
	case string:
		out[path] = leaf{strconv.Quote(x), stringShape(x)}
	case json.Number:
		out[path] = leaf{x.String(), "number"}
	case bool:
		out[path] = leaf{strconv.FormatBool(x), "bool"}
	default:
		out[path] = leaf{"null", "null"}
	}
}

// stringShape classes a string: empty, hex (16 or more hex digits:
// tokens, ids), digits, or text.
func stringShape(s string) string {
	if s == "" {
		return "empty"
	}
	digits, hex := true, len(s) >= 16
	for _, c := range s {
		isDigit := c >= '0' && c <= '9'
		digits = digits && isDigit
		hex = hex && (isDigit || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
	}
	switch {
	case hex:
		return "hex"
	case digits:
		return "digits"
	}
	return "string"
}
