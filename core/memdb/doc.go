// Package memdb is a single-node implementation of core.Store and
// core.EphemeralStore: users and sessions live in hashicorp/go-memdb tables
// and are made durable by a write-ahead log plus periodic snapshots, the way
// HashiCorp's tools persist their in-memory state.
//
// # Files in the data directory
//
//	LOCK                       flock'ed while a process has the store open
//	snapshot                   the latest complete snapshot (may be absent)
//	snapshot.tmp               a snapshot being written; removed on Open
//	wal-<20-digit seq>.log     log segments, replayed in sequence order
//	avatars/<name>             avatar images (avatars/.tmp-* are leftovers)
//
// # Frames
//
// Log segments and the snapshot are sequences of frames:
//
//	uint32 LE payload length | uint32 LE CRC-32C(length bytes ‖ payload) | payload
//
// A payload is a batch of mutations applied atomically: each mutation is a
// tag byte followed by its fields (strings as uvarint length + bytes, times
// as zigzag varint Unix nanoseconds, the second time of a record as a
// difference from the first, token hashes as 32 raw bytes):
//
//	1 put user      id phone hash name nickname gender avatar device created updated
//	2 put session   len(userID) userID hash(32) created expires
//	3 del session   hash(32)
//	4 del sessions  userID   (every session of the user)
//
// In memory a user is kept as the encoded body of its put-user mutation
// and a session as userID‖hash plus two int64s; index keys point into
// them. Each lookup key has a go-memdb table of its own (users by id,
// phones, sessions by hash, user id‖hash) holding the same records.
//
// A snapshot's first frame is a header (magic, format version, and the
// sequence number of the first log segment it does NOT cover). Then come
// one put-user frame per user in phone order, one put-session frame per
// live session in hash order, frames listing the users' positions in id
// order and the sessions' positions in user id‖hash order, and a trailer
// with the counts, so that a short snapshot is detected. With both orders
// stored, Open builds every table's radix tree directly from its sorted
// records, without sorting or per-key inserts (bulk.go).
//
// # Writes
//
// Writers are serialized by a mutex. A write validates against a memdb write
// transaction, encodes its batch, appends the frame to the current segment
// and fsyncs it, and only then commits the memdb transaction: nothing is
// visible before it is durable, and log order equals commit order. The same
// decode-and-apply code runs for live writes and for replay. If fsync fails
// the store stops accepting writes (the page cache state is unknown after a
// failed fsync) and reports Unavailable until reopened. A write that
// failed in fsync may still reappear after a restart if its record did
// reach the disk: an error means "not known to be durable".
//
// # Compaction
//
// When the current segment holds Options.SnapshotRecords frames or
// Options.SnapshotBytes bytes, the writer (under the mutex) creates segment
// N+1 and fsyncs the directory, switches to it, and takes a memdb snapshot,
// which is exactly the state of segments ≤ N. A goroutine writes that state
// to snapshot.tmp, fsyncs it, renames it over snapshot, fsyncs the
// directory, and only then deletes segments ≤ N. A crash at any step leaves
// either the old snapshot with all the segments it needs, or the new one
// (segments it covers are then ignored and deleted on Open).
//
// # Recovery
//
// Open loads the snapshot, then replays every segment from the one the
// snapshot names, which must exist and be contiguous. In the last segment a
// torn or corrupt tail (a short frame, or a bad frame after which no valid
// frame can be found) is dropped with a warning and the file is truncated
// to the last good frame: that write was never acknowledged. A bad frame
// followed by a valid frame, a bad frame in any earlier segment, a payload
// that does not decode, a missing segment or a damaged snapshot is real
// corruption of acknowledged data: Open refuses to start and says where, so
// that an operator decides (restore a backup, or truncate by hand). The
// search for a valid frame after a bad one looks at every byte offset, so
// a torn write whose text happens to contain a well-formed frame also makes
// Open refuse: when in doubt it errs on the side of not dropping data.
//
// Snapshots leave out sessions expired at Options.Now; they could never be
// used again.
//
// Times are kept in memory and on disk as Unix nanoseconds, so they are
// restored with nanosecond precision in the local zone, without monotonic
// reading; times outside 1678–2262 are clamped.
//
// Codes, tickets and flows are memory-only, as core allows: a restart
// invalidates pending codes, which users simply request again.
package memdb
