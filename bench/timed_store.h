#pragma once

// A store whose heartbeats are timed, from sending the call to having the reply, and which
// can be made to fail every write at once, as for a process that died. For the benchmarks
// that run Electors in one process (scale, queue heartbeats).
//
// Thread safety: as the store it wraps; the callback is called from the heartbeating thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "baton/store.h"

namespace baton::bench {

class TimedStore final : public Store {
 public:
  // `on_heartbeat` gets each heartbeat's round trip and whether it succeeded.
  using OnHeartbeat = std::function<void(std::chrono::nanoseconds took, bool ok)>;

  TimedStore(std::unique_ptr<Store> inner, OnHeartbeat on_heartbeat)
      : inner_(std::move(inner)), on_heartbeat_(std::move(on_heartbeat)) {}

  Result<SchemaInfo> Migrate() override { return inner_->Migrate(); }
  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override {
    return inner_->Register(group, self, ttl);
  }
  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override {
    if (crashed_) return Crashed();
    const auto start = std::chrono::steady_clock::now();
    Result<HeartbeatReply> reply = inner_->Heartbeat(request);
    on_heartbeat_(std::chrono::steady_clock::now() - start, reply.ok());
    return reply;
  }
  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override {
    if (crashed_) return Crashed();
    return inner_->Release(lease, holder, token);
  }
  Result<void> Unregister(const std::string& group, const MemberInfo& self) override {
    if (crashed_) return Crashed();
    return inner_->Unregister(group, self);
  }
  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override {
    return inner_->RequestHandover(request);
  }
  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override {
    return inner_->Snapshot(group, lease_name);
  }
  Result<std::vector<std::string>> Groups() override { return inner_->Groups(); }
  Result<std::vector<Takeover>> Takeovers(const LeaseKey& lease, int limit) override {
    return inner_->Takeovers(lease, limit);
  }
  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override {
    return inner_->WatchReleases(lease, std::move(on_release));
  }
  std::string Describe() const override { return inner_->Describe(); }

  // From now on every write fails at once, as for a process that died: no renewal, no
  // release, nothing the others could tell from a crash.
  void Crash() { crashed_ = true; }

 private:
  static Error Crashed() { return Error(ErrorCode::kUnavailable, "crashed by the benchmark"); }

  std::unique_ptr<Store> inner_;
  const OnHeartbeat on_heartbeat_;
  std::atomic<bool> crashed_{false};
};

}  // namespace baton::bench
