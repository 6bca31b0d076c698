// SqliteStore::RequestHandover: `baton step-down` and --priority, in one BEGIN IMMEDIATE
// transaction, so the lease and the members it judges cannot change before the request is
// written.

#include "sqlite_store_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kUpsertHandover =
    "INSERT OR REPLACE INTO baton_handovers (group_name, name, token, to_id, reserved_ns, "
    "boot_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

// The outcome for `request` on `lease` (held) with the group's `members`, short of writing.
HandoverOutcome Judge(const HandoverRequest& request, const LeaseView& lease,
                      const std::vector<Member>& members) {
  int64_t holder_priority = 0;
  bool other = false;
  bool target = false;
  for (const Member& m : members) {
    if (m.info.holder == lease.holder) {
      holder_priority = m.info.priority;
      continue;
    }
    if (m.expires_in <= Duration::zero()) continue;
    other = true;
    if (m.info.id == request.to) target = true;
  }
  if (!request.to.empty() && !target) return HandoverOutcome::kUnknownTarget;
  if (!other) return HandoverOutcome::kNoOtherMember;
  if (request.holder_priority_below && holder_priority >= *request.holder_priority_below) {
    return HandoverOutcome::kNotLower;
  }
  return HandoverOutcome::kRequested;
}

}  // namespace

Result<HandoverReply> SqliteStore::RequestHandover(const HandoverRequest& request) {
  if (request.lease.group.empty() || request.lease.name.empty()) {
    return Error(ErrorCode::kInvalidArgument, "a handover request needs a group and a lease");
  }
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "requesting a handover");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  Result<std::optional<LeaseRow>> lease = ReadLease(*connection_, request.lease);
  if (!lease) return lease.error();
  HandoverReply reply;
  reply.lease = ViewOf(*lease, time);
  if (reply.lease.free()) {
    reply.outcome = HandoverOutcome::kNoHolder;
    return reply;  // Nothing written: the rollback is harmless.
  }
  Result<std::vector<Member>> members = ReadMembers(*connection_, request.lease.group, time);
  if (!members) return members.error();
  reply.outcome = Judge(request, reply.lease, *members);
  if (reply.outcome != HandoverOutcome::kRequested) return reply;
  Result<Statement> upsert = connection_->Prepare(kUpsertHandover, "requesting a handover");
  if (!upsert) return upsert.error();
  Result<int> written = upsert->Bind(request.lease.group)
                            .Bind(request.lease.name)
                            .Bind(static_cast<int64_t>(reply.lease.token))
                            .Bind(request.to)
                            .Bind(AddNanos(time.now_ns, 2 * reply.lease.remaining))
                            .Bind(time.boot_id)
                            .Run();
  if (!written) return written.error();
  if (auto r = tx.Commit(); !r) return r.error();
  return reply;
}

}  // namespace baton::sqlite_detail
