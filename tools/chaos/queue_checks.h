#pragma once

// SPEC 3's checks on a queue run's record (record.h, mode=queue): per-tenant exclusion and a
// full account of the items.
//
// Where an enqueued item ended is told from the store's final state and the probes' lines:
//   - listed by `queue list` as pending, running or cancelled: still in the queue (the drain
//     failed: "undrained");
//   - listed by `queue dead`: dead;
//   - else, with a done line of an attempt that exits 0: acknowledged;
//   - else, never started and given a time-to-live: expired (the store's expired total must
//     agree, so an item that vanished unclaimed cannot hide among them);
//   - else, never started: "lost"; started but never ran to a successful end: "unfinished"
//     (it left the queue as if acknowledged, but its work never completed).
// The store's done total must equal the acknowledged items, so an item acknowledged twice,
// or one whose successful run the store dropped, fails "store-totals" too.
//
// Thread safety: plain values and free functions; any thread may call them.

#include <cstdint>
#include <map>
#include <vector>

#include "checker.h"
#include "record.h"

namespace baton::chaos {

enum class Fate { kInQueue, kDead, kAcknowledged, kExpired, kLost, kUnfinished };

// What the queue checks look at.
struct QueueFacts {
  const Record* record = nullptr;
  std::vector<ItemInterval> intervals;  // Ordered by start (then pid).
  std::map<uint64_t, Fate> fates;       // Every enqueued or seen item; empty without a final state.
  QueueAccount account;
};

// The intervals of items.log: a (pid, token) start line opens one; its done, overlap or term
// line, or the driver's kill-item fault on it, closes it. Throws RecordError on a line of a
// command with no start line.
std::vector<ItemInterval> ItemIntervals(const Record& record);

QueueFacts JudgeQueue(const Record& record);

// The checks, each named in kChecks (checker.cc).
std::vector<Violation> ItemLockOverlaps(const QueueFacts& facts);  // "lock-overlaps"
std::vector<Violation> ItemTimeOverlaps(const QueueFacts& facts);  // "overlaps"
std::vector<Violation> ClaimTokenOrder(const QueueFacts& facts);   // "token-errors"
std::vector<Violation> Undrained(const QueueFacts& facts);         // "undrained"
std::vector<Violation> LostItems(const QueueFacts& facts);         // "lost"
std::vector<Violation> UnfinishedItems(const QueueFacts& facts);   // "unfinished"
std::vector<Violation> StoreTotals(const QueueFacts& facts);       // "store-totals"
std::vector<Violation> UnknownItems(const QueueFacts& facts);      // "unknown-items"

}  // namespace baton::chaos
