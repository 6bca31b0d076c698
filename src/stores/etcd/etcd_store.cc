// The etcd store (SPEC 8): leases as keys on etcd leases, tokens as create revisions.
#include <nlohmann/json.hpp>

#include <map>
#include <mutex>

#include "baton/elector.h"
#include "baton/etcd_store.h"
#include "client.h"
#include "keys.h"
#include "release_watch.h"

namespace baton {
namespace etcd_detail {
namespace {

constexpr int kSchemaVersion = 1;
constexpr int kUsableFrom = 1;

using Kv = mvccpb::KeyValue;

// etcd leases live in whole seconds: never shorter than asked, so never less safe.
int64_t TtlSeconds(Duration ttl) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  return std::max<int64_t>(1, (ms + 999) / 1000);
}

Duration Seconds(int64_t s) { return std::chrono::seconds(s); }

pb::Compare CreateRevision(const std::string& key, int64_t revision) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(pb::Compare::CREATE);
  c.set_result(pb::Compare::EQUAL);
  c.set_create_revision(revision);
  return c;
}

pb::Compare ModRevision(const std::string& key, int64_t revision) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(pb::Compare::MOD);
  c.set_result(pb::Compare::EQUAL);
  c.set_mod_revision(revision);
  return c;
}

pb::Compare ValueIs(const std::string& key, const std::string& value) {
  pb::Compare c;
  c.set_key(key);
  c.set_target(pb::Compare::VALUE);
  c.set_result(pb::Compare::EQUAL);
  c.set_value(value);
  return c;
}

void AddPut(pb::RequestOp* op, const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest* put = op->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
}

void AddDelete(pb::RequestOp* op, const std::string& key) {
  op->mutable_request_delete_range()->set_key(key);
}

void AddRange(pb::RequestOp* op, const std::string& key, const std::string& end = "") {
  pb::RangeRequest* range = op->mutable_request_range();
  range->set_key(key);
  if (!end.empty()) range->set_range_end(end);
}

// The two keys of a lease, as one read found them.
struct LeaseKeys {
  std::optional<Kv> holder;
  std::optional<Kv> handover;
};

LeaseKeys Parse(const google::protobuf::RepeatedPtrField<Kv>& kvs, const std::string& holder_key,
                const std::string& handover_key) {
  LeaseKeys keys;
  for (const Kv& kv : kvs) {
    if (kv.key() == holder_key) keys.holder = kv;
    if (kv.key() == handover_key) keys.handover = kv;
  }
  return keys;
}

std::string MemberJson(const MemberInfo& self, int64_t started_ms) {
  return nlohmann::json{{"holder", self.holder},     {"host", self.host},
                        {"pid", self.pid},           {"version", self.version},
                        {"priority", self.priority}, {"started_ms", started_ms}}
      .dump();
}

Result<MemberInfo> MemberFromJson(const std::string& id, const std::string& text,
                                  int64_t* started_ms) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return Error(ErrorCode::kInternal, "member key of \"" + id + "\" is not baton's JSON");
  }
  MemberInfo info;
  info.id = id;
  info.holder = json.value("holder", "");
  info.host = json.value("host", "");
  info.pid = json.value("pid", int64_t{0});
  info.version = json.value("version", "");
  info.priority = json.value("priority", int64_t{0});
  if (started_ms != nullptr) *started_ms = json.value("started_ms", int64_t{0});
  return info;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class EtcdStore final : public Store {
 public:
  EtcdStore(std::unique_ptr<Client> client, const EtcdStoreOptions& options)
      : client_(std::move(client)), keys_(options.prefix), create_schema_(options.create_schema) {}

  // Checks (or writes) the version key now if a member answers; an unreachable cluster is
  // checked at the first call that reaches it.
  Result<void> Start() {
    auto ready = Ready();
    if (!ready && !ready.error().retryable()) return ready;
    return Ok();
  }

  Result<SchemaInfo> Migrate() override {
    const std::string key = keys_.Version();
    pb::TxnRequest txn;
    *txn.add_compare() = CreateRevision(key, 0);
    AddPut(txn.add_success(), key,
           nlohmann::json{{"version", kSchemaVersion}, {"usable_from", kUsableFrom}}.dump(), 0);
    AddRange(txn.add_failure(), key);
    auto reply = client_->Txn(txn, "writing the version key");
    if (!reply) return reply.error();
    SchemaInfo info{.found = 0, .current = kSchemaVersion, .supported = kSchemaVersion};
    if (!reply->succeeded()) {
      auto found = VersionOf(reply->responses(0).response_range());
      if (!found) return found.error();
      info.found = info.current = found->version;
      if (auto r = CheckSchemaVersion(client_->describe(), *found, kSchemaVersion); !r) {
        return r.error();
      }
    }
    schema_checked_ = true;
    return info;
  }

  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override {
    if (auto r = CheckMemberIdentity(group, self); !r) return r;
    if (auto r = Ready(); !r) return r;
    auto lease = GrantFor(group, self, ttl);
    if (!lease) return lease.error();
    auto put = PutMember(group, self, *lease);
    if (!put && put.error().code() == ErrorCode::kConflict) Forget(group, self);
    return put;
  }

  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override {
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
    LeaseKeys found = Parse(read->kvs(), holder_key, handover_key);

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
      return reply;
    }
    if (request.intent == LeaseIntent::kAcquire && found.holder &&
        found.holder->value() == request.self.holder) {
      // Ours from an interval that ended here, or on an etcd lease we lost: a new interval
      // needs a new token, so the key is made again.
      pb::TxnRequest drop;
      *drop.add_compare() = CreateRevision(holder_key, found.holder->create_revision());
      AddDelete(drop.add_success(), holder_key);
      if (auto r = client_->Txn(drop, "dropping a stale hold"); !r) return r.error();
      found.holder.reset();
    }
    if (request.intent != LeaseIntent::kAcquire || found.holder ||
        Reserved(found, request.self.id)) {
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
      found = Parse(taken->responses(0).response_range().kvs(), holder_key, handover_key);
      auto view = View(found.holder, false, request.lease_ttl);
      if (!view) return view.error();
      reply.lease = *view;
      return reply;
    }
    reply.held = reply.acquired = true;
    reply.lease.holder = request.self.holder;
    reply.lease.token = static_cast<uint64_t>(taken->header().revision());
    reply.lease.remaining = request.lease_ttl;
    return reply;
  }

  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override {
    const std::string key = keys_.Holder(lease.group, lease.name);
    pb::TxnRequest txn;
    *txn.add_compare() = CreateRevision(key, static_cast<int64_t>(token));
    *txn.add_compare() = ValueIs(key, holder);
    AddDelete(txn.add_success(), key);
    auto reply = client_->Txn(txn, "releasing the lease");
    if (!reply) return reply.error();
    return reply->succeeded();
  }

  Result<void> Unregister(const std::string& group, const MemberInfo& self) override {
    const std::string key = keys_.Member(group, self.id);
    pb::RangeRequest range;
    range.set_key(key);
    auto found = client_->Range(range, "reading the member key");
    if (!found) return found.error();
    int64_t lease = 0;
    if (found->kvs_size() == 1) {
      auto info = MemberFromJson(self.id, found->kvs(0).value(), nullptr);
      if (info && info->holder == self.holder) lease = found->kvs(0).lease();
    }
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find({group, self.holder});
      if (it != instances_.end()) {
        if (lease == 0) lease = it->second.lease;
        instances_.erase(it);
      }
    }
    // Revoking the instance's etcd lease deletes its member key and anything still on it.
    if (lease != 0) return client_->Revoke(lease, "revoking the instance's etcd lease");
    return Ok();
  }

  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override {
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

  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override {
    if (auto r = Ready(); !r) return r.error();
    const std::string holder_key = keys_.Holder(group, lease_name);
    pb::RangeRequest lease_read;
    lease_read.set_key(holder_key);
    auto lease = client_->Range(lease_read, "reading the lease");
    if (!lease) return lease.error();
    const std::string members_prefix = keys_.Members(group);
    pb::RangeRequest members_read;
    members_read.set_key(members_prefix);
    members_read.set_range_end(PrefixEnd(members_prefix));
    auto members = client_->Range(members_read, "reading the members");
    if (!members) return members.error();

    GroupSnapshot snapshot;
    if (lease->kvs_size() == 1) {
      const Kv& kv = lease->kvs(0);
      snapshot.lease.holder = kv.value();
      snapshot.lease.token = static_cast<uint64_t>(kv.create_revision());
      auto ttl = client_->TimeToLive(kv.lease(), "reading the holder's etcd lease");
      if (!ttl) return ttl.error();
      snapshot.lease.remaining = Seconds(std::max<int64_t>(ttl->ttl(), 0));
      if (snapshot.lease.remaining == Duration::zero()) snapshot.lease.holder.clear();
    }
    for (const Kv& kv : members->kvs()) {
      const std::string id = kv.key().substr(members_prefix.size());
      int64_t started_ms = 0;
      auto info = MemberFromJson(id, kv.value(), &started_ms);
      if (!info) continue;
      info->id = Unescape(id);
      Member member;
      member.info = *info;
      member.role = !snapshot.lease.holder.empty() && info->holder == snapshot.lease.holder
                        ? MemberRole::kActive
                        : MemberRole::kPassive;
      member.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(started_ms));
      auto ttl = client_->TimeToLive(kv.lease(), "reading a member's etcd lease");
      if (!ttl) return ttl.error();
      member.expires_in = Seconds(ttl->ttl());
      member.since_heartbeat = Seconds(std::max<int64_t>(ttl->grantedttl() - ttl->ttl(), 0));
      snapshot.members.push_back(member);
    }
    return snapshot;
  }

  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override {
    return std::make_unique<ReleaseWatch>(*client_, keys_.LeaseDir(lease.group, lease.name),
                                          std::move(on_release));
  }

  std::string Describe() const override { return client_->describe(); }

 private:
  struct Instance {
    int64_t lease = 0;
    int64_t started_ms = 0;
  };

  Result<SchemaVersion> VersionOf(const pb::RangeResponse& range) const {
    if (range.kvs_size() == 0) return SchemaVersion{};
    const auto json = nlohmann::json::parse(range.kvs(0).value(), nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("version")) {
      return Error(ErrorCode::kSchemaMismatch,
                   client_->describe() + ": the version key " + keys_.Version() +
                       " is not baton's: is the prefix shared with something else?");
    }
    return SchemaVersion{.version = json.value("version", 0),
                         .usable_from = json.value("usable_from", json.value("version", 0))};
  }

  Result<void> Ready() {
    if (schema_checked_) return Ok();
    pb::RangeRequest range;
    range.set_key(keys_.Version());
    auto read = client_->Range(range, "reading the version key");
    if (!read) return read.error();
    auto found = VersionOf(*read);
    if (!found) return found.error();
    if (found->version < kSchemaVersion && create_schema_) {
      auto migrated = Migrate();
      if (!migrated) return migrated.error();
      return Ok();
    }
    if (auto r = CheckSchemaVersion(client_->describe(), *found, kSchemaVersion); !r) return r;
    schema_checked_ = true;
    return Ok();
  }

  Result<int64_t> GrantFor(const std::string& group, const MemberInfo& self, Duration ttl) {
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find({group, self.holder});
      if (it != instances_.end() && it->second.lease != 0) return it->second.lease;
    }
    auto granted = client_->Grant(TtlSeconds(ttl), "granting the instance's etcd lease");
    if (!granted) return granted.error();
    std::lock_guard lock(mu_);
    Instance& instance = instances_[{group, self.holder}];
    instance.lease = granted->id();
    if (instance.started_ms == 0) instance.started_ms = NowMs();
    return instance.lease;
  }

  // Writes the member key on `lease`; kConflict while another live holder has the id.
  Result<void> PutMember(const std::string& group, const MemberInfo& self, int64_t lease) {
    const std::string key = keys_.Member(group, self.id);
    int64_t started_ms;
    {
      std::lock_guard lock(mu_);
      started_ms = instances_[{group, self.holder}].started_ms;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
      pb::RangeRequest range;
      range.set_key(key);
      auto found = client_->Range(range, "reading the member key");
      if (!found) return found.error();
      pb::TxnRequest txn;
      if (found->kvs_size() == 1) {
        const Kv& kv = found->kvs(0);
        auto other = MemberFromJson(self.id, kv.value(), nullptr);
        if (other && other->holder != self.holder) {
          return Error(ErrorCode::kConflict,
                       "instance id \"" + self.id + "\" is already in use in group \"" + group +
                           "\" by a live process (pid " + std::to_string(other->pid) + " on host " +
                           other->host + "); choose another instance id or stop that process");
        }
        *txn.add_compare() = ModRevision(key, kv.mod_revision());
      } else {
        *txn.add_compare() = CreateRevision(key, 0);
      }
      AddPut(txn.add_success(), key, MemberJson(self, started_ms), lease);
      auto written = client_->Txn(txn, "writing the member key");
      if (!written) return written.error();
      if (written->succeeded()) return Ok();
    }
    return Error(ErrorCode::kUnavailable,
                 "the member key of \"" + self.id + "\" kept changing while it was written");
  }

  // Renews the instance's etcd lease; one that etcd no longer has (expired while the instance
  // could not reach it) is replaced, and the member key written again on the new one.
  Result<int64_t> KeptAlive(const std::string& group, const MemberInfo& self, Duration ttl) {
    int64_t lease = 0;
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find({group, self.holder});
      if (it != instances_.end()) lease = it->second.lease;
    }
    if (lease != 0) {
      auto kept = client_->KeepAlive(lease, "renewing the instance's etcd lease");
      if (!kept) return kept.error();
      if (*kept > 0) return lease;
      std::lock_guard lock(mu_);
      instances_[{group, self.holder}].lease = 0;
    }
    auto granted = GrantFor(group, self, ttl);
    if (!granted) return granted.error();
    if (auto r = PutMember(group, self, *granted); !r) {
      if (r.error().code() == ErrorCode::kConflict) Forget(group, self);
      return r.error();
    }
    return *granted;
  }

  // Drops what this handle knows of an instance refused its id: its etcd lease is revoked
  // (best effort: unrevoked, it expires), so a refused instance renews nothing.
  void Forget(const std::string& group, const MemberInfo& self) {
    int64_t lease = 0;
    {
      std::lock_guard lock(mu_);
      auto it = instances_.find({group, self.holder});
      if (it == instances_.end()) return;
      lease = it->second.lease;
      instances_.erase(it);
    }
    if (lease != 0) (void)client_->Revoke(lease, "revoking a refused instance's etcd lease");
  }

  // A named handover reserves a free lease for its target until its own etcd lease ends.
  static bool Reserved(const LeaseKeys& found, const std::string& self_id) {
    return found.handover && !found.handover->value().empty() && found.handover->value() != self_id;
  }

  // The lease as `holder` shows it. Another's remaining time is its etcd lease's, which etcd
  // reports in whole seconds, rounded down: one more request, only while another holds it.
  Result<LeaseView> View(const std::optional<Kv>& holder, bool ours, Duration ttl) const {
    LeaseView view;
    if (!holder) return view;
    view.holder = holder->value();
    view.token = static_cast<uint64_t>(holder->create_revision());
    view.remaining = ttl;  // Ours: just renewed.
    if (ours) return view;
    auto left = client_->TimeToLive(holder->lease(), "reading the holder's etcd lease");
    if (!left) return left.error();
    // Expired but not yet revoked: still held until etcd deletes the key, which the watch
    // reports; a positive time keeps the lease from looking free.
    view.remaining =
        std::max<Duration>(std::chrono::seconds(left->ttl()), std::chrono::milliseconds(1));
    return view;
  }

  const std::unique_ptr<Client> client_;
  const Keys keys_;
  const bool create_schema_;
  std::atomic<bool> schema_checked_{false};
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Instance> instances_;  // GUARDED_BY(mu_)
};

}  // namespace
}  // namespace etcd_detail

Result<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options) {
  auto client = etcd_detail::Client::Open(options);
  if (!client) return client.error();
  auto store = std::make_unique<etcd_detail::EtcdStore>(std::move(*client), options);
  if (auto r = store->Start(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

int EtcdSchemaVersion() { return etcd_detail::kSchemaVersion; }

}  // namespace baton
