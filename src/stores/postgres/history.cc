// PostgresStore::Groups and PostgresStore::Takeovers: what `baton web` shows of the store's
// past.

#include <algorithm>

#include "postgres_store_impl.h"

namespace baton::postgres_detail {

// The schema's triggers keep this many entries of each lease's log (schema_v8.sql).
static_assert(kTakeoversKept == 100);

Result<std::vector<std::string>> PostgresStore::Groups() {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows = (*connection)->Exec(statements_.groups, {});
  if (!rows) return rows.error();
  std::vector<std::string> groups;
  for (int i = 0; i < rows->size(); ++i) groups.push_back(rows->Text(i, 0));
  return groups;
}

Result<std::vector<Takeover>> PostgresStore::Takeovers(const LeaseKey& lease, int limit) {
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows =
      (*connection)
          ->Exec(statements_.takeovers, {TextParam(lease.group), TextParam(lease.name),
                                         IntParam(std::clamp(limit, 0, kTakeoversKept))});
  if (!rows) return rows.error();
  std::vector<Takeover> takeovers;
  for (int i = 0; i < rows->size(); ++i) {
    const std::optional<TakeoverCause> cause = TakeoverCauseFromName(rows->Text(i, 2));
    if (!cause) {
      return Error(ErrorCode::kInternal,
                   settings_.describe + ": unknown takeover cause \"" + rows->Text(i, 2) + "\"");
    }
    takeovers.push_back(
        Takeover{.token = static_cast<uint64_t>(rows->Int(i, 0)),
                 .holder = rows->Text(i, 1),
                 .cause = *cause,
                 .at = std::chrono::system_clock::time_point(
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::chrono::microseconds(rows->Int(i, 3))))});
  }
  return takeovers;
}

}  // namespace baton::postgres_detail
