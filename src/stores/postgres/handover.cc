// PostgresStore::RequestHandover: one statement, the schema's request_handover(), which judges
// the lease and the members, records the request and wakes the holder in one transaction.

#include "postgres_store_impl.h"

namespace baton::postgres_detail {
namespace {

Result<HandoverOutcome> OutcomeFromName(const std::string& name) {
  if (name == "requested") return HandoverOutcome::kRequested;
  if (name == "no_holder") return HandoverOutcome::kNoHolder;
  if (name == "unknown_target") return HandoverOutcome::kUnknownTarget;
  if (name == "no_other_member") return HandoverOutcome::kNoOtherMember;
  if (name == "not_lower") return HandoverOutcome::kNotLower;
  return Error(ErrorCode::kInternal, "request_handover() answered an unknown outcome: " + name);
}

}  // namespace

Result<HandoverReply> PostgresStore::RequestHandover(const HandoverRequest& request) {
  if (request.lease.group.empty() || request.lease.name.empty()) {
    return Error(ErrorCode::kInvalidArgument, "a handover request needs a group and a lease");
  }
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  Result<Rows> rows =
      (*connection)
          ->Exec(
              statements_.request_handover,
              {TextParam(request.lease.group), TextParam(request.lease.name), TextParam(request.to),
               request.holder_priority_below ? IntParam(*request.holder_priority_below) : Param()});
  if (!rows) return rows.error();
  if (rows->size() != 1) {
    return Error(ErrorCode::kInternal, settings_.describe + ": request_handover() returned " +
                                           std::to_string(rows->size()) + " rows, not 1");
  }
  Result<HandoverOutcome> outcome = OutcomeFromName(rows->Text(0, 0));
  if (!outcome) return outcome.error();
  HandoverReply reply;
  reply.outcome = *outcome;
  reply.lease.holder = rows->Text(0, 1);
  reply.lease.token = static_cast<uint64_t>(rows->Int(0, 2));
  reply.lease.renewals = static_cast<uint64_t>(rows->Int(0, 3));
  reply.lease.remaining = std::chrono::microseconds(rows->Int(0, 4));
  return reply;
}

}  // namespace baton::postgres_detail
