package memdb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"legacyauth/internal/testkit"

	iradix "github.com/hashicorp/go-immutable-radix"
)

// TestBulkLayout fails when go-immutable-radix or go-memdb no longer match
// the mirrors in bulk.go (Open then falls back to slower inserts).
func TestBulkLayout(t *testing.T) {
	if !bulkOK {
		t.Fatal("bulk.go's mirrors do not match go-immutable-radix/go-memdb: update them")
	}
}

func walk(tr *iradix.Tree) (keys []string, vals []any) {
	tr.Root().Walk(func(k []byte, v any) bool {
		keys = append(keys, string(k))
		vals = append(vals, v)
		return false
	})
	return
}

// TestBuildTree compares bulk-built trees with trees built by inserts,
// before and after further changes through the library.
func TestBuildTree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		set := map[string]bool{}
		n := r.IntN(300)
		if round == 0 {
			n = 0
		}
		for range n {
			b := make([]byte, r.IntN(6))
			for i := range b {
				b[i] = "ab\x00\xff"[r.IntN(4)]
			}
			set[string(b)] = true
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		bulk := buildTree(len(keys), func(i int) []byte { return stringBytes(keys[i]) }, func(i int) any { return i })
		ref := iradix.New()
		for i, k := range slices.Backward(keys) {
			ref, _, _ = ref.Insert([]byte(k), i)
		}
		check := func(what string, got, want *iradix.Tree) {
			t.Helper()
			gk, gv := walk(got)
			wk, wv := walk(want)
			if got.Len() != want.Len() || !slices.Equal(gk, wk) || !slices.Equal(gv, wv) {
				t.Fatalf("round %d %s: got %q %v (len %d), want %q %v (len %d)", round, what, gk, gv, got.Len(), wk, wv, want.Len())
			}
			for i, k := range wk {
				if v, ok := got.Get([]byte(k)); !ok || v != wv[i] {
					t.Fatalf("round %d %s: Get(%q) = %v, %v", round, what, k, v, ok)
				}
			}
			if _, ok := got.Get([]byte("zzz")); ok {
				t.Fatalf("round %d %s: found a missing key", round, what)
			}
		}
		check("built", bulk, ref)
		bt, rt := bulk.Txn(), ref.Txn()
		for range 50 {
			b := make([]byte, r.IntN(6))
			for i := range b {
				b[i] = "ab\x00\xff"[r.IntN(4)]
			}
			if r.IntN(2) == 0 {
				bt.Insert(b, -1)
				rt.Insert(b, -1)
			} else {
				bt.Delete(b)
				rt.Delete(b)
			}
			if r.IntN(3) == 0 && len(keys) > 0 {
				k := []byte(keys[r.IntN(len(keys))])
				bt.DeletePrefix(k[:len(k)/2])
				rt.DeletePrefix(k[:len(k)/2])
			}
		}
		check("changed", bt.Commit(), rt.Commit())
	}
}

// TestBulkLoadMatchesInserts opens the same snapshot both ways.
func TestBulkLoadMatchesInserts(t *testing.T) {
	dir := t.TempDir()
	o := testOpts(nil, testkit.NewClock(t0))
	o.SnapshotRecords = 300
	s := mustOpen(t, dir, o)
	for i := range 300 {
		u := user(i)
		if err := s.CreateUser(ctx, u, session(u, fmt.Sprint(i), 1e12)); err != nil {
			t.Fatal(err)
		}
	}
	waitCompaction(t, s)
	mustClose(t, s)
	dump := func() []string {
		s := mustOpen(t, dir, o)
		defer mustClose(t, s)
		var out []string
		for _, table := range []string{tUsers, tPhones, tSessions, tUserSessions} {
			txn := s.db.Txn(false)
			it, err := txn.Get(table, "id")
			if err != nil {
				t.Fatal(err)
			}
			for raw := it.Next(); raw != nil; raw = it.Next() {
				out = append(out, fmt.Sprintf("%s %+v", table, raw))
			}
		}
		for i := range 300 {
			if _, err := s.UserByPhone(ctx, user(i).Phone); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	bulk := dump()
	noBulk = true
	defer func() { noBulk = false }()
	ins := dump()
	if len(bulk) != 4*300 || !slices.Equal(bulk, ins) {
		t.Fatalf("bulk load differs from inserts: %d vs %d entries", len(bulk), len(ins))
	}
}
