// The elector's loop observer (what systemd's watchdog and status follow): a pass is reported
// after every heartbeat, failed ones included, so a store outage never looks like a stuck loop.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "baton/elector.h"
#include "baton/sqlite_store.h"
#include "faulty_store.h"
#include "support/temp_dir.h"

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::FaultyStore;

class NullListener final : public ElectorListener {
 public:
  void OnActive(uint64_t, TimePoint) override {}
  void OnRenewed(uint64_t, TimePoint) override {}
  void OnPassive(PassiveReason) override {}
};

class RecordingObserver final : public LoopObserver {
 public:
  void OnReady() override {
    std::lock_guard lock(mu_);
    ready_at_ = passes_.size();
  }
  void OnPass(const LoopPass& pass) override {
    std::lock_guard lock(mu_);
    passes_.push_back(pass);
  }
  std::vector<LoopPass> passes() const {
    std::lock_guard lock(mu_);
    return passes_;
  }
  std::optional<size_t> ready_at() const {
    std::lock_guard lock(mu_);
    return ready_at_;
  }
  // Waits (in real time) until at least `n` passes have been reported.
  bool AwaitPasses(size_t n) const {
    for (int i = 0; i < 5000; ++i) {
      if (passes().size() >= n) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<LoopPass> passes_;
  std::optional<size_t> ready_at_;
};

TEST(ElectorObserverTest, EveryPassIsReportedWithItsStateAndFailedOnesWithTheirError) {
  test_support::TempDir dir("observer");
  FakeClock clock;
  SqliteStoreOptions store_options;
  store_options.path = dir.File("baton.db");
  store_options.clock = &clock;
  auto inner = OpenSqliteStore(store_options);
  ASSERT_TRUE(inner.ok()) << inner.error().message();
  FaultyStore store(**inner, clock);
  NullListener listener;
  RecordingObserver observer;
  ElectorOptions options;
  options.lease = {"billing", kActiveLease};
  options.self = {"a", NewHolder("a"), "host", 1, "test"};
  options.timing = {.ttl = 10s, .heartbeat = 2s, .margin = 1s, .grace = 2s};
  options.clock = &clock;
  options.observer = &observer;
  Elector elector(store, options, listener);
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });

  ASSERT_TRUE(observer.AwaitPasses(1));
  EXPECT_EQ(observer.ready_at(), 0u) << "ready once registered, before the first heartbeat";
  LoopPass first = observer.passes()[0];
  EXPECT_FALSE(first.error);
  EXPECT_EQ(first.state, "active with token " + std::to_string(elector.token()));
  EXPECT_EQ(first.next, clock.Now() + 2s) << "the next heartbeat";

  store.set_mode(FaultyStore::Mode::kFail);
  // A heartbeat may already be on its way (a release seen wakes the loop early), so the
  // failures start at the first pass with an error.
  size_t failed = 0;
  for (int i = 0; i < 20 && failed < 5; ++i) {
    const size_t before = observer.passes().size();
    clock.Advance(3s);  // Past the longest backoff: a heartbeat, jittered up to 1.2 times.
    EXPECT_TRUE(observer.AwaitPasses(before + 1)) << "a failed heartbeat was not reported";
    failed = 0;
    for (const LoopPass& pass : observer.passes()) failed += pass.error ? 1 : 0;
  }
  EXPECT_GE(failed, 5u);
  const std::vector<LoopPass> passes = observer.passes();
  size_t first_failed = 0;
  while (first_failed < passes.size() && !passes[first_failed].error) ++first_failed;
  for (size_t i = first_failed + 1; i < passes.size(); ++i) {
    EXPECT_TRUE(passes[i].error) << "pass " << i;
    if (passes[i].error) {
      EXPECT_EQ(passes[i].error->code(), ErrorCode::kUnavailable);
    }
    // Each failed pass says when the loop tries again, later than the pass before.
    EXPECT_GT(passes[i].next, passes[i - 1].next) << "pass " << i;
  }
  store.set_mode(FaultyStore::Mode::kPass);
  elector.RequestStop();
  runner.join();
}

// Records what an elector publishes; Event's string views are copied, since they live only
// for the call.
class RecordingSink final : public EventSink {
 public:
  struct Seen {
    EventKind kind;
    std::string group;
    std::string name;
    uint64_t token;
    PassiveReason reason;
  };
  void OnEvent(const Event& e) override {
    std::lock_guard lock(mu_);
    seen_.push_back({e.kind, std::string(e.group), std::string(e.name), e.token, e.passive_reason});
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  size_t Count(EventKind kind) const {
    size_t n = 0;
    for (const Seen& s : seen()) n += s.kind == kind ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

TEST(ElectorEventsTest, HeartbeatsTransitionsAndFailuresArePublishedForTheLease) {
  test_support::TempDir dir("events");
  FakeClock clock;
  SqliteStoreOptions store_options;
  store_options.path = dir.File("baton.db");
  store_options.clock = &clock;
  auto inner = OpenSqliteStore(store_options);
  ASSERT_TRUE(inner.ok()) << inner.error().message();
  FaultyStore store(**inner, clock);
  NullListener listener;
  RecordingObserver observer;
  RecordingSink sink;
  ElectorOptions options;
  options.lease = {"billing", kActiveLease};
  options.self = {"a", NewHolder("a"), "host", 1, "test"};
  options.timing = {.ttl = 10s, .heartbeat = 2s, .margin = 1s, .grace = 2s};
  options.clock = &clock;
  options.observer = &observer;
  options.events = &sink;
  Elector elector(store, options, listener);
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });
  ASSERT_TRUE(observer.AwaitPasses(1));
  const uint64_t token = elector.token();
  ASSERT_GE(sink.seen().size(), 2u);
  EXPECT_EQ(sink.seen()[0].kind, EventKind::kHeartbeat);
  EXPECT_EQ(sink.seen()[0].group, "billing");
  EXPECT_EQ(sink.seen()[0].name, kActiveLease);
  EXPECT_EQ(sink.seen()[1].kind, EventKind::kBecameActive);
  EXPECT_EQ(sink.seen()[1].token, token);

  store.set_mode(FaultyStore::Mode::kFail);
  for (int i = 0; i < 20 && sink.Count(EventKind::kHeartbeatFailed) < 2; ++i) {
    const size_t before = observer.passes().size();
    clock.Advance(3s);
    ASSERT_TRUE(observer.AwaitPasses(before + 1));
  }
  EXPECT_GE(sink.Count(EventKind::kHeartbeatFailed), 2u);
  store.set_mode(FaultyStore::Mode::kPass);
  elector.RequestStop();
  runner.join();
  // The outage outlived the deadline (ttl − margin = 9 s), or the stop ended the interval:
  // either way exactly one passive transition, for the token that was active.
  ASSERT_EQ(sink.Count(EventKind::kBecamePassive), 1u);
  for (const auto& s : sink.seen()) {
    if (s.kind != EventKind::kBecamePassive) continue;
    EXPECT_EQ(s.token, token);
    EXPECT_TRUE(s.reason == PassiveReason::kDeadlinePassed || s.reason == PassiveReason::kStopping)
        << ToString(s.reason);
  }
}

}  // namespace
}  // namespace baton
