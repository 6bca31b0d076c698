// SqliteStore::Heartbeat: the member row, the lease and the reaping in one BEGIN IMMEDIATE
// transaction. Holding the write lock for the whole transaction is what makes the lease's
// conditional writes compare-and-set: no other process can commit between our read of the
// lease and our write of it.

#include "sqlite_store_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kRefreshMember =
    "UPDATE baton_members SET role = ?4, heartbeat_ns = ?5, expiry_ns = ?6, boot_id = ?7 "
    "WHERE group_name = ?1 AND id = ?2 AND holder = ?3";

// Expired: its expiry has come, or it was written in another boot.
constexpr const char* kReapMembers =
    "DELETE FROM baton_members WHERE group_name = ?1 AND (expiry_ns <= ?2 OR boot_id <> ?3) "
    "RETURNING id";

// Takes the lease iff it is free, expired (by time or by a reboot) or already this holder's;
// every acquisition gets the next token. A row that does not exist yet starts at token 1.
constexpr const char* kAcquireLease =
    "INSERT INTO baton_leases (group_name, name, holder, token, renewals, acquired_ns, "
    "expiry_ns, boot_id) VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6) "
    "ON CONFLICT (group_name, name) DO UPDATE SET holder = excluded.holder, "
    "token = baton_leases.token + 1, renewals = 0, acquired_ns = excluded.acquired_ns, "
    "expiry_ns = excluded.expiry_ns, boot_id = excluded.boot_id "
    "WHERE (baton_leases.holder = '' OR baton_leases.holder = excluded.holder "
    "OR baton_leases.expiry_ns <= excluded.acquired_ns "
    "OR baton_leases.boot_id <> excluded.boot_id) "
    // A step-down to a named member: it alone may take the lease, until its reservation ends.
    "AND NOT EXISTS (SELECT 1 FROM baton_handovers h WHERE h.group_name = ?1 AND h.name = ?2 "
    "AND h.token = baton_leases.token AND h.to_id NOT IN ('', ?7) AND h.reserved_ns > ?4 "
    "AND h.boot_id = ?6)";

// Extends the lease iff this holder still has it with the same token (compare-and-set): if
// nobody took it, nobody can have worked under a newer token, even if it expired meanwhile.
// Whether the holder may still work is its own deadline's call, not the store's. A reboot
// (another boot id) ends it all the same. ?6 (now) is bound but not needed here.
constexpr const char* kRenewLease =
    "UPDATE baton_leases SET expiry_ns = ?5, renewals = renewals + 1 "
    "WHERE group_name = ?1 AND name = ?2 AND holder = ?3 AND token = ?4 "
    "AND boot_id = ?7 AND ?6 IS NOT NULL";

}  // namespace

Result<HeartbeatReply> SqliteStore::Heartbeat(const HeartbeatRequest& request) {
  if (auto r = CheckMemberIdentity(request.lease.group, request.self); !r) return r.error();
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "heartbeat");
  if (auto r = tx.Begin(); !r) return r.error();
  // Read the clock once the write lock is ours: a wait for the lock must not age our view.
  const StoreTime time = Now();

  if (auto r = RefreshSelf(request, time); !r) return r.error();
  HeartbeatReply reply;
  bool changed = false;
  if (request.intent == LeaseIntent::kAcquire) {
    Result<bool> acquired = TryAcquire(request, time);
    if (!acquired) return acquired.error();
    changed = *acquired;
    reply.acquired = changed;
  } else if (request.intent == LeaseIntent::kRenew) {
    Result<bool> renewed = TryRenew(request, time);
    if (!renewed) return renewed.error();
    changed = *renewed;
    if (changed) {
      Result<std::optional<std::string>> handover =
          ReadHandover(*connection_, request.lease, request.token);
      if (!handover) return handover.error();
      reply.handover = std::move(*handover);
    }
  }

  Result<std::optional<LeaseRow>> lease = ReadLease(*connection_, request.lease);
  if (!lease) return lease.error();
  reply.lease = ViewOf(*lease, time);
  if (request.intent == LeaseIntent::kObserve) {
    reply.held = reply.lease.holder == request.self.holder && !reply.lease.free();
  } else {
    reply.held = changed;
  }
  // The holder reaps, and everyone while nobody live holds the lease (the holder may be the
  // member that died): one search per heartbeat interval, not one per instance.
  if (reply.held || reply.lease.free() || reply.lease.holder == request.self.holder) {
    Result<std::vector<std::string>> reaped = Reap(request.lease.group, time);
    if (!reaped) return reaped.error();
    reply.reaped = std::move(*reaped);
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return reply;
}

Result<void> SqliteStore::RefreshSelf(const HeartbeatRequest& request, const StoreTime& time) {
  const std::string& group = request.lease.group;
  {
    Result<Statement> refresh =
        connection_->Prepare(kRefreshMember, "heartbeat: refreshing the member row");
    if (!refresh) return refresh.error();
    Result<int> changed = refresh->Bind(group)
                              .Bind(request.self.id)
                              .Bind(request.self.holder)
                              .Bind(RoleName(request.role))
                              .Bind(time.now_ns)
                              .Bind(AddNanos(time.now_ns, request.member_ttl))
                              .Bind(time.boot_id)
                              .Run();
    if (!changed) return changed.error();
    if (*changed > 0) return Ok();
  }
  // Our row is gone: another instance reaped it while we were paused or cut off. Put it
  // back, unless a live process took our id meanwhile.
  Result<std::optional<MemberRow>> existing = ReadMember(*connection_, group, request.self.id);
  if (!existing) return existing.error();
  if (*existing && (*existing)->holder != request.self.holder && (*existing)->live(time)) {
    return IdInUse(group, request.self.id, **existing);
  }
  return WriteMember(*connection_, group, request.self, request.role, request.member_ttl, time);
}

Result<std::vector<std::string>> SqliteStore::Reap(const std::string& group,
                                                   const StoreTime& time) {
  Result<Statement> reap = connection_->Prepare(kReapMembers, "heartbeat: reaping members");
  if (!reap) return reap.error();
  reap->Bind(group).Bind(time.now_ns).Bind(time.boot_id);
  std::vector<std::string> ids;
  for (;;) {
    Result<bool> row = reap->Step();
    if (!row) return row.error();
    if (!*row) break;
    ids.push_back(reap->Text(0));
  }
  return ids;
}

Result<bool> SqliteStore::TryAcquire(const HeartbeatRequest& request, const StoreTime& time) {
  Result<Statement> acquire = connection_->Prepare(kAcquireLease, "heartbeat: acquiring the lease");
  if (!acquire) return acquire.error();
  Result<int> changed = acquire->Bind(request.lease.group)
                            .Bind(request.lease.name)
                            .Bind(request.self.holder)
                            .Bind(time.now_ns)
                            .Bind(AddNanos(time.now_ns, request.lease_ttl))
                            .Bind(time.boot_id)
                            .Bind(request.self.id)
                            .Run();
  if (!changed) return changed.error();
  return *changed > 0;
}

Result<bool> SqliteStore::TryRenew(const HeartbeatRequest& request, const StoreTime& time) {
  Result<Statement> renew = connection_->Prepare(kRenewLease, "heartbeat: renewing the lease");
  if (!renew) return renew.error();
  Result<int> changed = renew->Bind(request.lease.group)
                            .Bind(request.lease.name)
                            .Bind(request.self.holder)
                            .Bind(static_cast<int64_t>(request.token))
                            .Bind(AddNanos(time.now_ns, request.lease_ttl))
                            .Bind(time.now_ns)
                            .Bind(time.boot_id)
                            .Run();
  if (!changed) return changed.error();
  return *changed > 0;
}

}  // namespace baton::sqlite_detail
