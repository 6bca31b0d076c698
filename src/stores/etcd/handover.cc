// Step-down requests (Store::RequestHandover).
#include "etcd_store_impl.h"

namespace baton::etcd_detail {

Result<HandoverReply> EtcdStore::RequestHandover(const HandoverRequest& request) {
  const std::string& group = request.lease.group;
  if (auto r = Ready(); !r) return r.error();
  const std::string holder_key = keys_.Holder(group, request.lease.name);
  const std::string handover_key = keys_.Handover(group, request.lease.name);
  auto snapshot = Snapshot(group, request.lease.name);
  if (!snapshot) return snapshot.error();
  HandoverReply reply;
  reply.lease = snapshot->lease;
  if (snapshot->lease.free()) {
    reply.outcome = HandoverOutcome::kNoHolder;
    return reply;
  }
  const Member* holder = nullptr;
  bool target_live = false;
  bool other = false;
  for (const Member& m : snapshot->members) {
    if (m.expires_in <= Duration::zero()) continue;
    if (m.info.holder == snapshot->lease.holder) {
      holder = &m;
      continue;
    }
    other = true;
    if (m.info.id == request.to) target_live = true;
  }
  if (request.holder_priority_below &&
      (holder == nullptr || holder->info.priority >= *request.holder_priority_below)) {
    reply.outcome = HandoverOutcome::kNotLower;
    return reply;
  }
  if (!request.to.empty() && !target_live) {
    reply.outcome = HandoverOutcome::kUnknownTarget;
    return reply;
  }
  if (!other) {
    reply.outcome = HandoverOutcome::kNoOtherMember;
    return reply;
  }
  // The reservation lasts twice the lease's remaining time, on an etcd lease of its own.
  auto reservation = client_->Grant(TtlSeconds(2 * snapshot->lease.remaining),
                                    "granting the handover's etcd lease");
  if (!reservation) return reservation.error();
  pb::TxnRequest txn;
  *txn.add_compare() = CreateRevision(holder_key, static_cast<int64_t>(snapshot->lease.token));
  AddPut(txn.add_success(), handover_key, request.to, reservation->id());
  auto written = client_->Txn(txn, "writing the handover request");
  if (!written) return written.error();
  reply.outcome = written->succeeded() ? HandoverOutcome::kRequested : HandoverOutcome::kNoHolder;
  return reply;
}

}  // namespace baton::etcd_detail
