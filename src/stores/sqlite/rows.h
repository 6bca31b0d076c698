#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "baton/result.h"
#include "baton/store.h"
#include "connection.h"

// Reading and judging the SQLite store's rows. Free functions on a Connection the caller
// serializes.
namespace baton::sqlite_detail {

// "Now" on the store's timeline: CLOCK_BOOTTIME nanoseconds of this boot. A row stamped with
// another boot id was written before a reboot and counts as expired whatever its numbers say.
struct StoreTime {
  int64_t now_ns = 0;
  std::string boot_id;
};

// `at` + `d` in nanoseconds, saturating instead of overflowing for huge ttls.
int64_t AddNanos(int64_t at, Duration d);

const char* RoleName(MemberRole role);
MemberRole RoleFromName(const std::string& name);

struct LeaseRow {
  std::string holder;
  uint64_t token = 0;
  uint64_t renewals = 0;
  int64_t expiry_ns = 0;
  std::string boot_id;
};

// The lease row, or nullopt when the lease was never taken.
Result<std::optional<LeaseRow>> ReadLease(Connection& connection, const LeaseKey& key);

// The handover asked of the lease's interval `token` (RequestHandover), if any: the member id
// that alone may take it next, or "" for any other member.
Result<std::optional<std::string>> ReadHandover(Connection& connection, const LeaseKey& key,
                                                uint64_t token);

// The lease as the caller sees it at `time`: remaining <= 0 when free or expired.
LeaseView ViewOf(const std::optional<LeaseRow>& row, const StoreTime& time);

struct MemberRow {
  std::string holder;
  std::string host;
  int64_t pid = 0;
  int64_t expiry_ns = 0;
  std::string boot_id;

  bool live(const StoreTime& time) const {
    return boot_id == time.boot_id && expiry_ns > time.now_ns;
  }
};

// The member row with `id` in `group`, or nullopt.
Result<std::optional<MemberRow>> ReadMember(Connection& connection, const std::string& group,
                                            const std::string& id);

// Writes (or replaces) the member row of `self`, with a fresh start time and expiry.
Result<void> WriteMember(Connection& connection, const std::string& group, const MemberInfo& self,
                         MemberRole role, Duration ttl, const StoreTime& time);

// kConflict for `id` held by another live process, in words that say what to do.
Error IdInUse(const std::string& group, const std::string& id, const MemberRow& other);

// Every member row of `group`, ordered by id, with ages judged at `time`.
Result<std::vector<Member>> ReadMembers(Connection& connection, const std::string& group,
                                        const StoreTime& time);

}  // namespace baton::sqlite_detail
