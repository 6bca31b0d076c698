#pragma once

// The etcd store's insides (SPEC 8), shared by its files: etcd_store.cc (opening, the version
// key, the watch), lease.cc (heartbeats and releases), members.cc (member keys and the
// instances' etcd leases) and handover.cc (step-down requests).

#include <nlohmann/json.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "baton/etcd_store.h"
#include "client.h"
#include "keys.h"
#include "release_watch.h"

namespace baton::etcd_detail {

inline constexpr int kSchemaVersion = 1;
inline constexpr int kUsableFrom = 1;

using Kv = mvccpb::KeyValue;

// etcd leases live in whole seconds: never shorter than asked, so never less safe.
inline int64_t TtlSeconds(Duration ttl) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

// A transaction's condition: `key`'s `target` equals what `set` puts in.
template <typename Set>
pb::Compare Equal(const std::string& key, pb::Compare::CompareTarget target, Set set) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(target);
  c.set_result(pb::Compare::EQUAL);
  set(c);
  return c;
}

// 0: the key does not exist.
inline pb::Compare CreateRevision(const std::string& key, int64_t revision) {
  return Equal(key, pb::Compare::CREATE, [&](pb::Compare& c) { c.set_create_revision(revision); });
}

inline pb::Compare ModRevision(const std::string& key, int64_t revision) {
  return Equal(key, pb::Compare::MOD, [&](pb::Compare& c) { c.set_mod_revision(revision); });
}

inline pb::Compare ValueIs(const std::string& key, const std::string& value) {
  return Equal(key, pb::Compare::VALUE, [&](pb::Compare& c) { c.set_value(value); });
}

inline void AddPut(pb::RequestOp* op, const std::string& key, const std::string& value,
                   int64_t lease) {
  pb::PutRequest* put = op->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
}

inline void AddDelete(pb::RequestOp* op, const std::string& key) {
  op->mutable_request_delete_range()->set_key(key);
}

inline void AddRange(pb::RequestOp* op, const std::string& key, const std::string& end = "") {
  pb::RangeRequest* range = op->mutable_request_range();
  range->set_key(key);
  if (!end.empty()) range->set_range_end(end);
}

// The keys of a lease, as one read of its directory found them.
struct LeaseKeys {
  std::optional<Kv> holder;
  std::optional<Kv> handover;
  std::optional<Kv> released;
};

inline LeaseKeys Parse(const google::protobuf::RepeatedPtrField<Kv>& kvs, const Keys& keys,
                       const LeaseKey& lease) {
  const std::string holder = keys.Holder(lease.group, lease.name);
  const std::string handover = keys.Handover(lease.group, lease.name);
  const std::string released = keys.Released(lease.group, lease.name);
  LeaseKeys found;
  for (const Kv& kv : kvs) {
    if (kv.key() == holder) found.holder = kv;
    if (kv.key() == handover) found.handover = kv;
    if (kv.key() == released) found.released = kv;
  }
  return found;
}

// Store over etcd (see baton/etcd_store.h). Thread safety: every method from any thread;
// instances_ is guarded by mu_, never held during a call to etcd.
class EtcdStore final : public Store {
 public:
  EtcdStore(std::unique_ptr<Client> client, const EtcdStoreOptions& options)
      : client_(std::move(client)),
        keys_(options.prefix),
        create_schema_(options.create_schema),
        trust_early_vanish_(options.unsafe_trust_early_vanish),
        clock_(options.clock != nullptr ? *options.clock : Clock::Real()) {}

  // Checks (or writes) the version key now if a member answers; an unreachable cluster is
  // checked at the first call that reaches it.
  Result<void> Start() {
    auto ready = Ready();
    if (!ready && !ready.error().retryable()) return ready;
    return Ok();
  }

  Result<SchemaInfo> Migrate() override;

  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override;

  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override;

  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override;

  Result<void> Unregister(const std::string& group, const MemberInfo& self) override;

  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override;

  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override;

  Result<std::vector<std::string>> Groups() override;                                  // history.cc
  Result<std::vector<Takeover>> Takeovers(const LeaseKey& lease, int limit) override;  // ditto

  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override {
    return std::make_unique<ReleaseWatch>(*client_, keys_.LeaseDir(lease.group, lease.name),
                                          std::move(on_release));
  }

  std::string Describe() const override { return client_->describe(); }
  // The etcd lease of a dead member lives its ttl in whole seconds, up to a second more
  // until the leader's expiry sweep, and restarts at full length on every leader change (a
  // new leader cannot know how much was left): two rounded ttl and two seconds cover one
  // election in the way.
  Duration MemberExpiryBound(Duration ttl) const override {
    return 2 * std::chrono::seconds(TtlSeconds(ttl)) + std::chrono::seconds(2);
  }
  std::string FencingKey(const LeaseKey& lease) const override {
    return keys_.Holder(lease.group, lease.name);
  }

 private:
  struct Instance {
    int64_t lease = 0;
    int64_t started_ms = 0;
  };

  Result<SchemaVersion> VersionOf(const pb::RangeResponse& range) const;

  Result<void> Ready();

  Result<int64_t> GrantFor(const std::string& group, const MemberInfo& self, Duration ttl);

  // Writes the member key on `lease`; kConflict while another live holder has the id.
  Result<void> PutMember(const std::string& group, const MemberInfo& self, int64_t lease);

  // Renews the instance's etcd lease; one that etcd no longer has (expired while the instance
  // could not reach it) is replaced, and the member key written again on the new one.
  Result<int64_t> KeptAlive(const std::string& group, const MemberInfo& self, Duration ttl);

  // Drops what this handle knows of an instance refused its id: its etcd lease is revoked
  // (best effort: unrevoked, it expires), so a refused instance renews nothing.
  void Forget(const std::string& group, const MemberInfo& self);

  // An acquisition not yet in the takeover log, with the lease's keys as read before it.
  struct UnloggedTakeover {
    LeaseKey lease;
    std::string holder;
    uint64_t token = 0;
    LeaseKeys before;
    bool reacquired = false;
    std::chrono::system_clock::time_point at;  // When it was taken, for people.
  };
  // Writes the acquisitions this handle made into the takeover log, each with its cause (see
  // history.cc); called at a renewal. Best effort: a failure is logged and the entry dropped.
  void LogTakeovers();
  void LogTakeover(const UnloggedTakeover& taken);

  // A named handover reserves a free lease for its target until its own etcd lease ends.
  static bool Reserved(const LeaseKeys& found, const std::string& self_id);

  // The lease as `holder` shows it. Another's remaining time is its etcd lease's, which etcd
  // reports in whole seconds, rounded down: one more request, only while another holds it.
  // Notes etcd's promise (the key lives at least that long) for EarlyVanishHoldOff.
  Result<LeaseView> View(const std::optional<Kv>& holder, bool ours, Duration ttl);

  // A free lease whose last holder's key vanished before etcd's promise, without a release:
  // etcd revoked it early (see OpenEtcdStore), and the holder may still be active until its
  // deadline, at most a ttl after the vanishing. Returns the lease as it must be seen until
  // then (still held by the last holder), or nullopt when it may be taken now.
  std::optional<LeaseView> EarlyVanishHoldOff(const std::string& holder_key,
                                              const std::optional<Kv>& released, Duration ttl);

  // What this handle last saw of another instance's hold of a lease.
  struct Sighting {
    std::string holder;
    uint64_t token = 0;
    TimePoint not_before{};  // etcd's promise: the key lives at least until then.
    std::optional<TimePoint> hold_off_until;
  };

  const std::unique_ptr<Client> client_;
  const Keys keys_;
  const bool create_schema_;
  const bool trust_early_vanish_;
  Clock& clock_;
  std::atomic<bool> schema_checked_{false};
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Instance> instances_;  // GUARDED_BY(mu_)
  std::vector<UnloggedTakeover> unlogged_;                             // GUARDED_BY(mu_)
  std::map<std::string, Sighting> sightings_;  // By holder key. GUARDED_BY(mu_)
};

}  // namespace baton::etcd_detail
