#pragma once

// What the web page shows, read from a store: every group with its lease, members and last
// takeover (the overview), and one group with its takeover log. Plain values; the pages and
// the JSON are made from them (html.h, json.h).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "baton/result.h"
#include "baton/store.h"

namespace baton::web {

struct GroupSummary {
  std::string name;
  GroupSnapshot snapshot;                 // The active lease and the members.
  std::optional<Takeover> last_takeover;  // Nothing when the lease was never taken.
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

// `at` in UTC as strftime's `format` writes it (the pages' "2026-12-08 02:58:01 UTC", the JSON's
// RFC 3339).
std::string FormatUtc(std::chrono::system_clock::time_point at, const char* format);

// How many takeovers a group's page lists.
inline constexpr int kTakeoversShown = 20;

// Reads every group: one Snapshot and one Takeovers(limit 1) each.
Result<Overview> ReadOverview(Store& store);
// Reads one group; nullopt when the store has no such group.
Result<std::optional<GroupDetail>> ReadGroup(Store& store, const std::string& name);

}  // namespace baton::web
