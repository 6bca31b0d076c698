// Heartbeats and releases: the lease key, its token, and the handover request beside it.
#include <spdlog/spdlog.h>

#include "baton/timing.h"
#include "etcd_store_impl.h"

namespace baton::etcd_detail {

Result<HeartbeatReply> EtcdStore::Heartbeat(const HeartbeatRequest& request) {
  const std::string& group = request.lease.group;
  if (auto r = CheckMemberIdentity(group, request.self); !r) return r.error();
  if (auto r = Ready(); !r) return r.error();
  // One keep-alive renews the member key and a held lease key together.
  auto lease = KeptAlive(group, request.self, request.member_ttl);
  if (!lease) return lease.error();

  const std::string holder_key = keys_.Holder(group, request.lease.name);
  const std::string handover_key = keys_.Handover(group, request.lease.name);
  const std::string dir = keys_.LeaseDir(group, request.lease.name);
  pb::RangeRequest range;
  range.set_key(dir);
  range.set_range_end(PrefixEnd(dir));
  auto read = client_->Range(range, "reading the lease");
  if (!read) return read.error();
  LeaseKeys found = Parse(read->kvs(), keys_, request.lease);

  HeartbeatReply reply;
  const bool ours = found.holder && found.holder->value() == request.self.holder &&
                    found.holder->lease() == *lease;
  if (request.intent == LeaseIntent::kRenew && ours &&
      static_cast<uint64_t>(found.holder->create_revision()) == request.token) {
    reply.held = true;
    reply.lease = *View(found.holder, true, request.lease_ttl);
    // A request made during this interval (later requests than its creation).
    if (found.handover && found.handover->mod_revision() > found.holder->create_revision()) {
      reply.handover = found.handover->value();
    }
    LogTakeovers();
    return reply;
  }
  bool reacquired = false;  // For the takeover log.
  if (request.intent == LeaseIntent::kAcquire && found.holder &&
      found.holder->value() == request.self.holder) {
    // Ours from an interval that ended here, or on an etcd lease we lost: a new interval
    // needs a new token, so the key is made again.
    pb::TxnRequest drop;
    *drop.add_compare() = CreateRevision(holder_key, found.holder->create_revision());
    AddDelete(drop.add_success(), holder_key);
    if (auto r = client_->Txn(drop, "dropping a stale hold"); !r) return r.error();
    found.holder.reset();
    reacquired = true;
  }
  if (!found.holder) {
    if (auto held_off = EarlyVanishHoldOff(holder_key, found.released, request.lease_ttl)) {
      reply.lease = *held_off;
      return reply;
    }
  }
  if (request.intent != LeaseIntent::kAcquire || found.holder || Reserved(found, request.self.id)) {
    auto view = View(found.holder, ours, request.lease_ttl);
    if (!view) return view.error();
    reply.lease = *view;
    // A renewal of another token is refused even when the key is ours (a later interval).
    reply.held = ours && request.intent != LeaseIntent::kRenew;
    return reply;
  }
  pb::TxnRequest take;
  *take.add_compare() = CreateRevision(holder_key, 0);
  *take.add_compare() =
      ModRevision(handover_key, found.handover ? found.handover->mod_revision() : 0);
  AddPut(take.add_success(), holder_key, request.self.holder, *lease);
  // Taking the lease spends any handover request.
  if (found.handover) AddDelete(take.add_success(), handover_key);
  AddRange(take.add_failure(), dir, PrefixEnd(dir));
  auto taken = client_->Txn(take, "taking the lease");
  if (!taken) return taken.error();
  if (!taken->succeeded()) {
    found = Parse(taken->responses(0).response_range().kvs(), keys_, request.lease);
    auto view = View(found.holder, false, request.lease_ttl);
    if (!view) return view.error();
    reply.lease = *view;
    return reply;
  }
  reply.held = reply.acquired = true;
  reply.lease.holder = request.self.holder;
  reply.lease.token = static_cast<uint64_t>(taken->header().revision());
  reply.lease.remaining = request.lease_ttl;
  {
    // Logged at the holder's next renewal, so the acquisition returns as soon as it can.
    std::lock_guard lock(mu_);
    unlogged_.push_back(UnloggedTakeover{.lease = request.lease,
                                         .holder = request.self.holder,
                                         .token = reply.lease.token,
                                         .before = std::move(found),
                                         .reacquired = reacquired,
                                         .at = std::chrono::system_clock::now()});
  }
  return reply;
}

Result<bool> EtcdStore::Release(const LeaseKey& lease, const std::string& holder, uint64_t token) {
  const std::string key = keys_.Holder(lease.group, lease.name);
  pb::TxnRequest txn;
  *txn.add_compare() = CreateRevision(key, static_cast<int64_t>(token));
  *txn.add_compare() = ValueIs(key, holder);
  AddDelete(txn.add_success(), key);
  // Tells contenders the key went by its holder's will, not by an (early) revocation.
  AddPut(txn.add_success(), keys_.Released(lease.group, lease.name), std::to_string(token), 0);
  auto reply = client_->Txn(txn, "releasing the lease");
  if (!reply) return reply.error();
  return reply->succeeded();
}

std::optional<LeaseView> EtcdStore::EarlyVanishHoldOff(const std::string& holder_key,
                                                       const std::optional<Kv>& released,
                                                       Duration ttl) {
  std::lock_guard lock(mu_);
  auto it = sightings_.find(holder_key);
  if (it == sightings_.end() || trust_early_vanish_) return std::nullopt;
  Sighting& seen = it->second;
  const TimePoint now = clock_.Now();
  if (!seen.hold_off_until) {
    const bool released_by_holder = released && released->value() == std::to_string(seen.token);
    if (released_by_holder || now >= seen.not_before) {
      sightings_.erase(it);
      return std::nullopt;
    }
    seen.hold_off_until = now + ttl;
    spdlog::warn(
        "{}: the lease key of token {} vanished {} before etcd said it could expire, without "
        "a release: etcd revoked it early (a leader back from a stall does, etcd-io/etcd#15247); "
        "its holder may be active until its deadline, so the lease is taken no sooner than in {}",
        client_->describe(), seen.token,
        FormatDuration(std::chrono::duration_cast<Duration>(seen.not_before - now)),
        FormatDuration(ttl));
  }
  if (now >= *seen.hold_off_until) {
    sightings_.erase(it);
    return std::nullopt;
  }
  // Shown as still held by the last holder until then, so contenders wait for that time.
  LeaseView view;
  view.holder = seen.holder;
  view.token = seen.token;
  view.remaining = std::chrono::duration_cast<Duration>(*seen.hold_off_until - now);
  return view;
}

bool EtcdStore::Reserved(const LeaseKeys& found, const std::string& self_id) {
  return found.handover && !found.handover->value().empty() && found.handover->value() != self_id;
}

Result<LeaseView> EtcdStore::View(const std::optional<Kv>& holder, bool ours, Duration ttl) {
  LeaseView view;
  if (!holder) return view;
  view.holder = holder->value();
  view.token = static_cast<uint64_t>(holder->create_revision());
  view.remaining = ttl;  // Ours: just renewed.
  if (ours) {
    std::lock_guard lock(mu_);
    sightings_.erase(holder->key());
    return view;
  }
  const TimePoint asked = clock_.Now();
  auto left = client_->TimeToLive(holder->lease(), "reading the holder's etcd lease");
  if (!left) return left.error();
  {
    // The leader answered after `asked` with at least this much left.
    std::lock_guard lock(mu_);
    sightings_[holder->key()] = {.holder = view.holder,
                                 .token = view.token,
                                 .not_before = asked + std::chrono::seconds(left->ttl()),
                                 .hold_off_until = std::nullopt};
  }
  // Expired but not yet revoked: still held until etcd deletes the key, which the watch
  // reports; a positive time keeps the lease from looking free.
  view.remaining =
      std::max<Duration>(std::chrono::seconds(left->ttl()), std::chrono::milliseconds(1));
  return view;
}

}  // namespace baton::etcd_detail
