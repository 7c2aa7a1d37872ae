package memdb

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"

	iradix "github.com/hashicorp/go-immutable-radix"
	"github.com/hashicorp/go-memdb"
)

// Bulk loading. Inserting 1M keys one by one into go-immutable-radix
// allocates, for every key, a node and a leaf each with a watch channel
// (~100 B each), plus copies of the nodes on the path; most of Open's time
// was that and the garbage collection it causes. A snapshot lists every
// table in key order, so Open instead builds each tree directly, bottom up,
// with exactly the nodes the final tree has and no watch channels, then
// installs the trees in the memdb.MemDB. The trees are the library's own
// types, which this file mirrors: bulkOK checks at start-up, by reflection,
// that the mirrors still match the go-immutable-radix and go-memdb in the
// build (field names, types and offsets), and Open falls back to ordinary
// inserts if they do not (TestBulkLayout fails then, so that an upgrade is
// noticed).
//
// Nodes without a watch channel are safe because the store's MemDB is a
// memdb.Snapshot, which go-memdb never asks to track or close watch
// channels (TrackMutate(false)); the store uses no watches.

// Mirrors of go-immutable-radix v1.3.1's Node, leafNode, edge and Tree.
type radixNode struct {
	mutateCh chan struct{}
	leaf     *radixLeaf
	prefix   []byte
	edges    []radixEdge
}

type radixLeaf struct {
	mutateCh chan struct{}
	key      []byte
	val      any
}

type radixEdge struct {
	label byte
	node  *radixNode
}

type radixTree struct {
	root *radixNode
	size int
}

// rootOffset is the offset of MemDB.root (unsafe.Pointer to *iradix.Tree).
var rootOffset uintptr

// bulkOK reports whether the mirrors match the library types.
var bulkOK = func() bool {
	f, ok := reflect.TypeFor[memdb.MemDB]().FieldByName("root")
	if !ok || f.Type.Kind() != reflect.UnsafePointer {
		return false
	}
	rootOffset = f.Offset
	seen := map[[2]reflect.Type]bool{}
	return sameLayout(reflect.TypeFor[iradix.Tree](), reflect.TypeFor[radixTree](), seen)
}()

// sameLayout compares two types structurally: same kinds, sizes, field
// names and offsets, recursively.
func sameLayout(theirs, ours reflect.Type, seen map[[2]reflect.Type]bool) bool {
	if seen[[2]reflect.Type{theirs, ours}] {
		return true
	}
	seen[[2]reflect.Type{theirs, ours}] = true
	if theirs.Kind() != ours.Kind() || theirs.Size() != ours.Size() {
		return false
	}
	switch ours.Kind() {
	case reflect.Struct:
		if theirs.NumField() != ours.NumField() {
			return false
		}
		for i := range ours.NumField() {
			a, b := theirs.Field(i), ours.Field(i)
			if a.Name != b.Name || a.Offset != b.Offset || !sameLayout(a.Type, b.Type, seen) {
				return false
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Chan:
		return sameLayout(theirs.Elem(), ours.Elem(), seen)
	case reflect.Interface:
		return theirs.NumMethod() == 0 && ours.NumMethod() == 0
	case reflect.Uint8, reflect.Int:
	default:
		return false
	}
	return true
}

// buildTree builds a tree of n entries; key(i) must be strictly increasing
// and stay unchanged for the life of the tree (node prefixes alias it, as
// go-immutable-radix's own inserts do). It makes one pass in key order,
// keeping the path to the last key on a stack: each key is read once,
// which matters when the records are scattered in memory.
func buildTree(n int, key func(int) []byte, val func(int) any) *iradix.Tree {
	type open struct {
		nd    *radixNode
		depth int // key bytes consumed once past nd's prefix
	}
	root := &radixNode{}
	stack := []open{{root, 0}}
	// done fixes a node's edges at their final length: go-immutable-radix
	// makes them exact, and so does this, to not waste the append slack.
	done := func(nd *radixNode) {
		if cap(nd.edges) != len(nd.edges) {
			nd.edges = append([]radixEdge(nil), nd.edges...)
		}
	}
	var prev []byte
	for i := range n {
		k := key(i)
		l := 0
		if i > 0 {
			for l < len(prev) && l < len(k) && prev[l] == k[l] {
				l++
			}
		}
		var last *radixNode
		for stack[len(stack)-1].depth > l {
			last = stack[len(stack)-1].nd
			done(last)
			stack = stack[:len(stack)-1]
		}
		if top := stack[len(stack)-1]; top.depth < l {
			// The new key leaves the previous key's path in the middle of
			// last's prefix: split it there.
			cut := l - top.depth
			inner := &radixNode{prefix: last.prefix[:cut:cut]}
			last.prefix = last.prefix[cut:]
			inner.edges = []radixEdge{{label: last.prefix[0], node: last}}
			top.nd.edges[len(top.nd.edges)-1].node = inner
			stack = append(stack, open{inner, l})
		}
		leaf := &radixLeaf{key: k, val: val(i)}
		if top := stack[len(stack)-1].nd; len(k) == l {
			top.leaf = leaf // only the empty key, at the root
		} else {
			child := &radixNode{leaf: leaf, prefix: k[l:len(k):len(k)]}
			top.edges = append(top.edges, radixEdge{label: k[l], node: child})
			stack = append(stack, open{child, len(k)})
		}
		prev = k
	}
	for _, o := range stack {
		done(o.nd)
	}
	t := &radixTree{root: root, size: n}
	return (*iradix.Tree)(unsafe.Pointer(t))
}

// installTrees replaces the (empty) primary-index trees of the named
// tables in db. Called before any transaction.
func installTrees(db *memdb.MemDB, trees map[string]*iradix.Tree) error {
	p := (*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(db), rootOffset))
	root := (*iradix.Tree)(atomic.LoadPointer(p))
	txn := root.Txn()
	for table, t := range trees {
		path := []byte(table + ".id") // go-memdb's indexPath
		if old, ok := root.Get(path); !ok {
			return fmt.Errorf("memdb has no index %q", path)
		} else if ot, ok := old.(*iradix.Tree); !ok || ot.Len() != 0 {
			return fmt.Errorf("memdb index %q is not an empty tree", path)
		}
		txn.Insert(path, t)
	}
	atomic.StorePointer(p, unsafe.Pointer(txn.Commit()))
	return nil
}
