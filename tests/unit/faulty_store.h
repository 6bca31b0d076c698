#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "baton/clock.h"
#include "baton/store.h"

namespace baton::testing {

// Wraps a real store and breaks its heartbeats on demand: fail them, hang them until
// released, or let fake time pass while one is in flight. Thread-safe.
class FaultyStore final : public Store {
 public:
  // kHang: each heartbeat waits until the mode changes, then fails with kOutcomeUnknown.
  // kHold: the same wait, then the heartbeat is made (a reply that comes back late).
  enum class Mode { kPass, kFail, kHang, kHold };

  FaultyStore(Store& inner, FakeClock& clock) : inner_(inner), clock_(clock) {}

  void set_mode(Mode mode) {
    {
      std::lock_guard lock(mu_);
      mode_ = mode;
    }
    cv_.notify_all();
  }
  // Fake time that passes inside each heartbeat before it reaches the store.
  void set_latency(Duration latency) { latency_ns_ = latency.count(); }
  int hanging() const { return hanging_; }
  // Claims that dead members' rows vanish within `bound`, whatever the inner store does: a
  // store whose rows may outlive what it promises (etcd's across a leader change).
  void set_member_expiry_bound(Duration bound) { expiry_bound_ns_ = bound.count(); }

  Result<SchemaInfo> Migrate() override { return inner_.Migrate(); }
  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override {
    return inner_.Register(group, self, ttl);
  }
  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override {
    {
      std::unique_lock lock(mu_);
      if (mode_ == Mode::kFail) return Error(ErrorCode::kUnavailable, "injected failure");
      if (mode_ == Mode::kHang || mode_ == Mode::kHold) {
        const bool then_make_it = mode_ == Mode::kHold;
        ++hanging_;
        cv_.wait(lock, [&] { return mode_ != Mode::kHang && mode_ != Mode::kHold; });
        --hanging_;
        if (!then_make_it) return Error(ErrorCode::kOutcomeUnknown, "injected hang ended");
      }
    }
    if (latency_ns_ != 0) clock_.Advance(Duration(latency_ns_.load()));
    return inner_.Heartbeat(request);
  }
  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override {
    return inner_.Release(lease, holder, token);
  }
  Result<void> Unregister(const std::string& group, const MemberInfo& self) override {
    return inner_.Unregister(group, self);
  }
  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override {
    return inner_.RequestHandover(request);
  }
  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override {
    return inner_.Snapshot(group, lease_name);
  }
  Result<std::vector<std::string>> Groups() override { return inner_.Groups(); }
  Result<std::vector<Takeover>> Takeovers(const LeaseKey& lease, int limit) override {
    return inner_.Takeovers(lease, limit);
  }
  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override {
    return inner_.WatchReleases(lease, std::move(on_release));
  }
  std::string Describe() const override { return "faulty " + inner_.Describe(); }
  std::string FencingKey(const LeaseKey& lease) const override { return inner_.FencingKey(lease); }
  Duration MemberExpiryBound(Duration ttl) const override {
    const Duration::rep bound = expiry_bound_ns_;
    return bound > 0 ? Duration(bound) : inner_.MemberExpiryBound(ttl);
  }

 private:
  Store& inner_;
  FakeClock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  Mode mode_ = Mode::kPass;
  std::atomic<int> hanging_{0};
  std::atomic<Duration::rep> latency_ns_{0};
  std::atomic<Duration::rep> expiry_bound_ns_{0};
};

}  // namespace baton::testing
