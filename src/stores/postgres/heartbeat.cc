// PostgresStore::Heartbeat: one statement (the schema's heartbeat function) per heartbeat,
// and the contender's own watch of the lease around it (lease_watch.h).

#include <nlohmann/json.hpp>

#include <chrono>

#include "postgres_store_impl.h"

namespace baton::postgres_detail {
namespace {

const char* IntentName(LeaseIntent intent) {
  switch (intent) {
    case LeaseIntent::kAcquire:
      return "acquire";
    case LeaseIntent::kRenew:
      return "renew";
    case LeaseIntent::kObserve:
      break;
  }
  return "observe";
}

Result<std::vector<std::string>> ParseReaped(const std::string& json) {
  const nlohmann::json ids = nlohmann::json::parse(json, nullptr, false);
  if (!ids.is_array()) {
    return Error(ErrorCode::kInternal, "heartbeat: the reaped ids are not a JSON array: " + json);
  }
  std::vector<std::string> out;
  for (const nlohmann::json& id : ids) {
    if (id.is_string()) out.push_back(id.get<std::string>());
  }
  return out;
}

}  // namespace

std::vector<Param> PostgresStore::HeartbeatParams(const HeartbeatRequest& request,
                                                  TimePoint sent) const {
  const std::optional<LeaseWatch::Watched> watched = watch_->Before(request.lease, sent);
  return {
      TextParam(request.lease.group),
      TextParam(request.lease.name),
      TextParam(request.self.id),
      TextParam(request.self.holder),
      TextParam(request.self.host),
      IntParam(request.self.pid),
      TextParam(request.self.version),
      TextParam(RoleName(request.role)),
      IntParam(Micros(request.member_ttl)),
      TextParam(IntentName(request.intent)),
      IntParam(Micros(request.lease_ttl)),
      IntParam(static_cast<int64_t>(request.token)),
      watched ? TextParam(watched->holder) : Param(),
      watched ? IntParam(static_cast<int64_t>(watched->token)) : Param(),
      watched ? IntParam(static_cast<int64_t>(watched->renewals)) : Param(),
      watched ? IntParam(Micros(watched->watched_for)) : Param(),
      IntParam(request.self.priority),
  };
}

Result<HeartbeatReply> PostgresStore::Heartbeat(const HeartbeatRequest& request) {
  if (auto r = CheckMemberIdentity(request.lease.group, request.self); !r) return r.error();
  std::lock_guard lock(shared_.mu);
  Result<Connection*> connection = Ready();
  if (!connection) return connection.error();
  // How long we have watched counts up to the moment the request leaves: the database may
  // read the row any time after that.
  const TimePoint sent = clock_.Now();
  ServerError refused;
  Result<Rows> rows =
      (*connection)->Exec(statements_.heartbeat, HeartbeatParams(request, sent), &refused);
  if (!rows && rows.error().code() == ErrorCode::kConflict) {
    return IdInUse(request.lease.group, request.self.id, refused);
  }
  if (!rows) return rows.error();
  const TimePoint received = clock_.Now();
  if (rows->size() != 1) {
    return Error(ErrorCode::kInternal, settings_.describe + ": heartbeat returned " +
                                           std::to_string(rows->size()) + " rows, not 1");
  }
  using std::chrono::microseconds;
  HeartbeatReply reply;
  reply.held = rows->Bool(0, 0);
  reply.acquired = rows->Bool(0, 1);
  reply.lease.holder = rows->Text(0, 2);
  reply.lease.token = static_cast<uint64_t>(rows->Int(0, 3));
  reply.lease.renewals = static_cast<uint64_t>(rows->Int(0, 4));
  reply.lease.remaining = microseconds(rows->Int(0, 5));
  const Duration holder_ttl = microseconds(rows->Int(0, 6));
  Result<std::vector<std::string>> reaped = ParseReaped(rows->Text(0, 7));
  if (!reaped) return reaped.error();
  reply.reaped = std::move(*reaped);
  if (!rows->IsNull(0, 8)) reply.handover = rows->Text(0, 8);

  watch_->Seen(request.lease, reply.lease, received);
  const bool others = !reply.lease.holder.empty() && reply.lease.holder != request.self.holder;
  if (others && reply.lease.remaining <= Duration::zero()) {
    // Expired by the database's clock, but not yet ours to take: say when it will be, so the
    // caller comes back then rather than at once or a whole heartbeat later. The watch was
    // judged as of `sent`; measured from `received` the shortfall may already look like
    // zero, which would send the caller back only at its next heartbeat.
    const Duration left = watch_->Left(request.lease, holder_ttl, sent);
    if (left > Duration::zero()) reply.lease.remaining = left;
  }
  return reply;
}

}  // namespace baton::postgres_detail
