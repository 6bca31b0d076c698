#pragma once

// What the web page shows, read from a store: every group with its lease, members and last
// takeover (the overview), and one group with its takeover log. Plain values; the pages and
// the JSON are made from them (html.h, json.h).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "baton/queue.h"
#include "baton/result.h"
#include "baton/store.h"

namespace baton::web {

// A queue's depth, as the pages list it.
struct QueueSummary {
  std::string name;
  QueueStats stats;  // Without its per-tenant lines.
};

struct GroupSummary {
  std::string name;
  GroupSnapshot snapshot;                 // The active lease and the members.
  std::optional<Takeover> last_takeover;  // Nothing when the lease was never taken.
  std::vector<QueueSummary> queues;       // Its queues, when the store has any.

  // Whether instances of `baton run` compete in it (a group may have queues alone).
  bool elects() const { return !snapshot.members.empty() || snapshot.lease.token > 0; }
};

struct Overview {
  std::string store;  // Store::Describe(): never a password.
  std::chrono::system_clock::time_point now;
  std::vector<GroupSummary> groups;
};

struct GroupDetail {
  std::string store;
  std::chrono::system_clock::time_point now;
  GroupSummary group;
  std::vector<Takeover> takeovers;  // Newest first.
};

struct QueueDetail {
  std::string store;
  std::chrono::system_clock::time_point now;
  std::string group;
  QueueSummary queue;
  std::vector<ItemView> running;      // The first kItemsShown claimed items.
  std::vector<ItemView> next;         // The first kItemsShown pending ones, by id.
  std::vector<ItemView> dead;         // The first kItemsShown dead letters.
  std::vector<MinuteCounts> minutes;  // The last kMinutesShown minutes with finishes.
};

inline constexpr int kItemsShown = 50;
inline constexpr int kMinutesShown = 30;

// `at` in UTC as strftime's `format` writes it (the pages' "2026-12-08 02:58:01 UTC", the JSON's
// RFC 3339).
std::string FormatUtc(std::chrono::system_clock::time_point at, const char* format);

// How many takeovers a group's page lists.
inline constexpr int kTakeoversShown = 20;

// Reads every group with a member, a lease or (through `queue`, when given) a queue: one
// Snapshot and one Takeovers(limit 1) each.
Result<Overview> ReadOverview(Store& store, Queue* queue);
// Reads one group, and its queues through `queue` when given; nullopt when the store has no
// such group.
Result<std::optional<GroupDetail>> ReadGroup(Store& store, Queue* queue, const std::string& name);
// Reads one queue; nullopt when the group has no such queue.
Result<std::optional<QueueDetail>> ReadQueue(Queue& queue, const std::string& group,
                                             const std::string& name);

}  // namespace baton::web
