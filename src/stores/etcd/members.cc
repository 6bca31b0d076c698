// Member keys, each on its instance's own etcd lease.
#include "etcd_store_impl.h"

namespace baton::etcd_detail {
namespace {

Duration Seconds(int64_t s) { return std::chrono::seconds(s); }

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

}  // namespace

Result<void> EtcdStore::Register(const std::string& group, const MemberInfo& self, Duration ttl) {
  if (auto r = CheckMemberIdentity(group, self); !r) return r;
  if (auto r = Ready(); !r) return r;
  auto lease = GrantFor(group, self, ttl);
  if (!lease) return lease.error();
  auto put = PutMember(group, self, *lease);
  if (!put && put.error().code() == ErrorCode::kConflict) Forget(group, self);
  return put;
}

Result<void> EtcdStore::Unregister(const std::string& group, const MemberInfo& self) {
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

Result<GroupSnapshot> EtcdStore::Snapshot(const std::string& group, const std::string& lease_name) {
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

Result<int64_t> EtcdStore::GrantFor(const std::string& group, const MemberInfo& self,
                                    Duration ttl) {
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

Result<void> EtcdStore::PutMember(const std::string& group, const MemberInfo& self, int64_t lease) {
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

Result<int64_t> EtcdStore::KeptAlive(const std::string& group, const MemberInfo& self,
                                     Duration ttl) {
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

void EtcdStore::Forget(const std::string& group, const MemberInfo& self) {
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

}  // namespace baton::etcd_detail
