#include "rows.h"

#include <chrono>
#include <limits>

namespace baton::sqlite_detail {
namespace {

constexpr const char* kSelectLease =
    "SELECT holder, token, renewals, expiry_ns, boot_id FROM baton_leases "
    "WHERE group_name = ?1 AND name = ?2";
constexpr const char* kSelectHandover =
    "SELECT to_id FROM baton_handovers WHERE group_name = ?1 AND name = ?2 AND token = ?3";
constexpr const char* kSelectMember =
    "SELECT holder, host, pid, expiry_ns, boot_id FROM baton_members "
    "WHERE group_name = ?1 AND id = ?2";
constexpr const char* kUpsertMember =
    "INSERT OR REPLACE INTO baton_members (group_name, id, holder, host, pid, version, role, "
    "started_ms, heartbeat_ns, expiry_ns, boot_id, priority) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
constexpr const char* kSelectMembers =
    "SELECT id, holder, host, pid, version, role, started_ms, heartbeat_ns, expiry_ns, boot_id, "
    "priority FROM baton_members WHERE group_name = ?1 ORDER BY id";

}  // namespace

int64_t AddNanos(int64_t at, Duration d) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t n = d.count();
  if (n > 0 && at > kMax - n) return kMax;
  if (n < 0 && at < kMin - n) return kMin;
  return at + n;
}

const char* RoleName(MemberRole role) { return role == MemberRole::kActive ? "active" : "passive"; }

MemberRole RoleFromName(const std::string& name) {
  return name == "active" ? MemberRole::kActive : MemberRole::kPassive;
}

Result<std::optional<LeaseRow>> ReadLease(Connection& connection, const LeaseKey& key) {
  Result<Statement> select = connection.Prepare(kSelectLease, "reading the lease");
  if (!select) return select.error();
  Result<bool> row = select->Bind(key.group).Bind(key.name).Step();
  if (!row) return row.error();
  if (!*row) return std::optional<LeaseRow>();
  return std::optional<LeaseRow>(LeaseRow{
      .holder = select->Text(0),
      .token = static_cast<uint64_t>(select->Int(1)),
      .renewals = static_cast<uint64_t>(select->Int(2)),
      .expiry_ns = select->Int(3),
      .boot_id = select->Text(4),
  });
}

Result<std::optional<std::string>> ReadHandover(Connection& connection, const LeaseKey& key,
                                                uint64_t token) {
  Result<Statement> select = connection.Prepare(kSelectHandover, "reading a handover request");
  if (!select) return select.error();
  Result<bool> row =
      select->Bind(key.group).Bind(key.name).Bind(static_cast<int64_t>(token)).Step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(select->Text(0));
}

LeaseView ViewOf(const std::optional<LeaseRow>& row, const StoreTime& time) {
  LeaseView view;
  if (!row) return view;
  view.token = row->token;
  if (row->holder.empty()) return view;  // Released: free, token kept.
  view.holder = row->holder;
  view.renewals = row->renewals;
  // A lease from another boot is expired however far away its expiry looks.
  view.remaining =
      row->boot_id == time.boot_id ? Duration(row->expiry_ns - time.now_ns) : Duration::zero();
  return view;
}

Result<std::optional<MemberRow>> ReadMember(Connection& connection, const std::string& group,
                                            const std::string& id) {
  Result<Statement> select = connection.Prepare(kSelectMember, "reading a member row");
  if (!select) return select.error();
  Result<bool> row = select->Bind(group).Bind(id).Step();
  if (!row) return row.error();
  if (!*row) return std::optional<MemberRow>();
  return std::optional<MemberRow>(MemberRow{
      .holder = select->Text(0),
      .host = select->Text(1),
      .pid = select->Int(2),
      .expiry_ns = select->Int(3),
      .boot_id = select->Text(4),
  });
}

Result<void> WriteMember(Connection& connection, const std::string& group, const MemberInfo& self,
                         MemberRole role, Duration ttl, const StoreTime& time) {
  Result<Statement> upsert = connection.Prepare(kUpsertMember, "writing the member row");
  if (!upsert) return upsert.error();
  const int64_t started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  Result<int> written = upsert->Bind(group)
                            .Bind(self.id)
                            .Bind(self.holder)
                            .Bind(self.host)
                            .Bind(self.pid)
                            .Bind(self.version)
                            .Bind(RoleName(role))
                            .Bind(started_ms)
                            .Bind(time.now_ns)
                            .Bind(AddNanos(time.now_ns, ttl))
                            .Bind(time.boot_id)
                            .Bind(self.priority)
                            .Run();
  if (!written) return written.error();
  return Ok();
}

Error IdInUse(const std::string& group, const std::string& id, const MemberRow& other) {
  return Error(ErrorCode::kConflict, "instance id \"" + id + "\" is already in use in group \"" +
                                         group + "\" by a live process (pid " +
                                         std::to_string(other.pid) + " on host " + other.host +
                                         "); choose another instance id or stop that process");
}

Result<std::vector<Member>> ReadMembers(Connection& connection, const std::string& group,
                                        const StoreTime& time) {
  Result<Statement> select = connection.Prepare(kSelectMembers, "reading the member rows");
  if (!select) return select.error();
  select->Bind(group);
  std::vector<Member> members;
  for (;;) {
    Result<bool> row = select->Step();
    if (!row) return row.error();
    if (!*row) break;
    Member m;
    m.info = MemberInfo{.id = select->Text(0),
                        .holder = select->Text(1),
                        .host = select->Text(2),
                        .pid = select->Int(3),
                        .version = select->Text(4),
                        .priority = select->Int(10)};
    m.role = RoleFromName(select->Text(5));
    m.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(select->Int(6)));
    if (select->Text(9) == time.boot_id) {
      m.since_heartbeat = Duration(time.now_ns - select->Int(7));
      m.expires_in = Duration(select->Int(8) - time.now_ns);
    } else {
      // Written before a reboot: at least as old as this boot, and expired.
      m.since_heartbeat = Duration(time.now_ns);
      m.expires_in = Duration::zero();
    }
    members.push_back(std::move(m));
  }
  return members;
}

}  // namespace baton::sqlite_detail
