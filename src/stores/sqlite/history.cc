// SqliteStore::Groups and SqliteStore::Takeovers: what `baton web` shows of the store's past.

#include <algorithm>

#include "sqlite_store_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kSelectGroups =
    "SELECT group_name FROM baton_members UNION SELECT group_name FROM baton_leases "
    "ORDER BY 1";
constexpr const char* kSelectTakeovers =
    "SELECT token, holder, cause, taken_ms FROM baton_takeovers "
    "WHERE group_name = ?1 AND name = ?2 ORDER BY token DESC LIMIT ?3";

// The schema's triggers keep this many entries of each lease's log.
static_assert(kTakeoversKept == 100);

}  // namespace

Result<std::vector<std::string>> SqliteStore::Groups() {
  std::lock_guard lock(mu_);
  Result<Statement> select = connection_->Prepare(kSelectGroups, "listing the groups");
  if (!select) return select.error();
  std::vector<std::string> groups;
  for (;;) {
    Result<bool> row = select->Step();
    if (!row) return row.error();
    if (!*row) return groups;
    groups.push_back(select->Text(0));
  }
}

Result<std::vector<Takeover>> SqliteStore::Takeovers(const LeaseKey& lease, int limit) {
  std::lock_guard lock(mu_);
  Result<Statement> select = connection_->Prepare(kSelectTakeovers, "reading the takeover log");
  if (!select) return select.error();
  select->Bind(lease.group).Bind(lease.name).Bind(int64_t{std::clamp(limit, 0, kTakeoversKept)});
  std::vector<Takeover> takeovers;
  for (;;) {
    Result<bool> row = select->Step();
    if (!row) return row.error();
    if (!*row) return takeovers;
    const std::optional<TakeoverCause> cause = TakeoverCauseFromName(select->Text(2));
    if (!cause) {
      return Error(ErrorCode::kInternal,
                   describe_ + ": unknown takeover cause \"" + select->Text(2) + "\"");
    }
    takeovers.push_back(Takeover{
        .token = static_cast<uint64_t>(select->Int(0)),
        .holder = select->Text(1),
        .cause = *cause,
        .at = std::chrono::system_clock::time_point(std::chrono::milliseconds(select->Int(3)))});
  }
}

}  // namespace baton::sqlite_detail
