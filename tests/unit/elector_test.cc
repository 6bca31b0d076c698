// The elector on a fake clock over the real SQLite store: every deadline is checked to the
// nanosecond, and nothing sleeps.
#include "baton/elector.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include "baton/sqlite_store.h"
#include "faulty_store.h"
#include "support/temp_dir.h"

namespace baton::testing {

// Steps an Elector on a FakeClock, one heartbeat or one deadline check at a time, without
// Run()'s threads.
class ElectorStepper final {
 public:
  static TimePoint Tick(Elector& elector) { return elector.Tick(); }
  static TimePoint CheckDeadline(Elector& elector) { return elector.CheckDeadline(); }
};

}  // namespace baton::testing

namespace baton {
namespace {

using namespace std::chrono_literals;
using testing::FaultyStore;

struct Event {
  enum Kind { kActive, kRenewed, kPassive } kind;
  uint64_t token = 0;
  TimePoint deadline;
  PassiveReason reason = PassiveReason::kStopping;
};

class RecordingListener final : public ElectorListener {
 public:
  void OnActive(uint64_t token, TimePoint deadline) override {
    Add({Event::kActive, token, deadline});
  }
  void OnRenewed(uint64_t token, TimePoint deadline) override {
    Add({Event::kRenewed, token, deadline});
  }
  void OnPassive(PassiveReason reason) override {
    Add({Event::kPassive, 0, TimePoint(), reason});
    if (on_passive) on_passive();
  }

  std::vector<Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }
  // Waits in real time (bounded) for the n-th event.
  bool AwaitEvents(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return events_.size() >= n; });
  }
  // Waits in real time (bounded) for a passive transition and returns its reason.
  std::optional<PassiveReason> AwaitPassive() {
    std::unique_lock lock(mu_);
    std::optional<PassiveReason> reason;
    cv_.wait_for(lock, 10s, [&] {
      for (const Event& e : events_) {
        if (e.kind == Event::kPassive) reason = e.reason;
      }
      return reason.has_value();
    });
    return reason;
  }
  std::function<void()> on_passive;

 private:
  void Add(Event e) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    }
    cv_.notify_all();
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

// ttl 10s, heartbeat 2s, margin 1s, grace 2s.
Timing TestTiming() { return Timing{10s, 2s, 1s, 2s}; }

class ElectorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore() {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    options.clock = &clock_;
    auto store = OpenSqliteStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }

  ElectorOptions Options(const std::string& id) {
    ElectorOptions options;
    options.lease = {"billing", kActiveLease};
    options.self = {id, NewHolder(id), "host", 1, "test"};
    options.timing = TestTiming();
    options.clock = &clock_;
    return options;
  }

  // One elector over a real store wrapped by a FaultyStore, its member row written.
  struct FaultyRig {
    FaultyRig(ElectorTest& test, const std::string& id, bool do_register = true)
        : inner(test.OpenStore()),
          store(*inner, test.clock_),
          elector(store, test.Options(id), listener) {
      if (do_register) {
        EXPECT_TRUE(store.Register("billing", elector.options().self, 10s).ok());
      }
    }
    std::unique_ptr<Store> inner;
    FaultyStore store;
    RecordingListener listener;
    Elector elector;
  };

  test_support::TempDir dir_{"elector"};
  FakeClock clock_;
};

// Electors "a" and "b" of one group, each over a connection of its own to the real store.
class TwoElectorTest : public ElectorTest {
 protected:
  std::unique_ptr<Store> store_a_ = OpenStore();
  std::unique_ptr<Store> store_b_ = OpenStore();
  RecordingListener listener_a_;
  RecordingListener listener_b_;
  Elector a_{*store_a_, Options("a"), listener_a_};
  Elector b_{*store_b_, Options("b"), listener_b_};
};

TEST_F(ElectorTest, HolderStopsAtSentPlusTtlMinusMarginWhenRenewalsFail) {
  FaultyRig rig(*this, "a");
  auto& [inner, store, listener, elector] = rig;

  const TimePoint sent = clock_.Now();
  testing::ElectorStepper::Tick(elector);
  ASSERT_TRUE(elector.active());
  EXPECT_EQ(elector.deadline(), sent + 10s - 1s);

  store.set_mode(FaultyStore::Mode::kFail);
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(2s);
    testing::ElectorStepper::Tick(elector);
    EXPECT_TRUE(elector.active());
  }
  clock_.Set(sent + 9s - 1ns);
  EXPECT_EQ(testing::ElectorStepper::CheckDeadline(elector), sent + 9s);
  EXPECT_TRUE(elector.active());
  clock_.Set(sent + 9s);
  testing::ElectorStepper::CheckDeadline(elector);
  EXPECT_FALSE(elector.active());
  auto events = listener.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, Event::kPassive);
  EXPECT_EQ(events[1].reason, PassiveReason::kDeadlinePassed);
  EXPECT_EQ(elector.counters().lost_to_deadline, 1u);
}

TEST_F(ElectorTest, DeadlineCountsFromSendNotFromReply) {
  FaultyRig rig(*this, "a");
  auto& [inner, store, listener, elector] = rig;
  store.set_latency(3s);  // The reply arrives 3 s after the request left.
  const TimePoint sent = clock_.Now();
  testing::ElectorStepper::Tick(elector);
  ASSERT_TRUE(elector.active());
  EXPECT_EQ(elector.deadline(), sent + 9s);
}

TEST_F(ElectorTest, AcquisitionThatReturnsAfterItsDeadlineIsNotUsed) {
  FaultyRig rig(*this, "a");
  auto& [inner, store, listener, elector] = rig;
  store.set_latency(9s);
  testing::ElectorStepper::Tick(elector);
  EXPECT_FALSE(elector.active());
  EXPECT_TRUE(listener.events().empty());
  EXPECT_EQ(elector.counters().late_renewals, 1u);
}

TEST_F(ElectorTest, HolderStopsAtDeadlineWhileRenewalHangs) {
  FaultyRig rig(*this, "a", /*do_register=*/false);
  auto& [inner, store, listener, elector] = rig;
  const TimePoint start = clock_.Now();
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });
  ASSERT_TRUE(listener.AwaitEvents(1));
  ASSERT_EQ(listener.events()[0].kind, Event::kActive);
  const TimePoint deadline = listener.events()[0].deadline;
  EXPECT_EQ(deadline, start + 9s);

  store.set_mode(FaultyStore::Mode::kHang);
  clock_.Advance(2s);  // The next heartbeat leaves and hangs.
  for (int i = 0; i < 1000 && store.hanging() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(store.hanging(), 1);
  clock_.Set(deadline - 1ns);
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(elector.active());
  clock_.Set(deadline);
  EXPECT_EQ(listener.AwaitPassive(), PassiveReason::kDeadlinePassed);
  EXPECT_FALSE(elector.active());

  store.set_mode(FaultyStore::Mode::kPass);
  elector.RequestStop();
  runner.join();
}

// SIGTERM to `baton run` while the store hangs: the command stops now, not when the call
// gives up (which may be seconds later).
TEST_F(ElectorTest, StopEndsActiveWorkAtOnceWhileARenewalHangs) {
  FaultyRig rig(*this, "a", /*do_register=*/false);
  auto& [inner, store, listener, elector] = rig;
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });
  ASSERT_TRUE(listener.AwaitEvents(1));
  ASSERT_EQ(listener.events()[0].kind, Event::kActive);

  store.set_mode(FaultyStore::Mode::kHang);
  clock_.Advance(2s);  // The next heartbeat leaves and hangs.
  for (int i = 0; i < 1000 && store.hanging() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(store.hanging(), 1);
  elector.RequestStop();
  EXPECT_EQ(listener.AwaitPassive(), PassiveReason::kStopping);
  EXPECT_EQ(store.hanging(), 1) << "active work waited for the hanging call";
  EXPECT_FALSE(elector.active());

  store.set_mode(FaultyStore::Mode::kPass);
  runner.join();
  auto snapshot = inner->Snapshot("billing", kActiveLease);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(snapshot->lease.free());
}

// An acquisition in flight when the stop comes is not used: no active work starts, and the
// lease it took is released on the way out.
TEST_F(ElectorTest, AcquisitionThatReturnsAfterAStopIsReleasedUnused) {
  FaultyRig rig(*this, "a");
  auto& [inner, store, listener, elector] = rig;
  store.set_mode(FaultyStore::Mode::kHold);
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });
  for (int i = 0; i < 1000 && store.hanging() == 0; ++i) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(store.hanging(), 1);
  elector.RequestStop();
  store.set_mode(FaultyStore::Mode::kPass);
  runner.join();
  EXPECT_TRUE(listener.events().empty()) << "became active after the stop";
  auto snapshot = inner->Snapshot("billing", kActiveLease);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(snapshot->lease.free());
  EXPECT_EQ(snapshot->lease.token, 1u);
}

TEST_F(TwoElectorTest, PassiveRetriesJustAfterTheExpiryItWasTold) {
  ASSERT_TRUE(store_a_->Register("billing", a_.options().self, 10s).ok());
  ASSERT_TRUE(store_b_->Register("billing", b_.options().self, 10s).ok());
  const TimePoint acquired = clock_.Now();
  testing::ElectorStepper::Tick(a_);
  ASSERT_TRUE(a_.active());

  // With 1 s left on a's lease, b plans its next try 1 ms after the expiry, not a full
  // heartbeat later.
  clock_.Set(acquired + 9s);
  const TimePoint next = testing::ElectorStepper::Tick(b_);
  EXPECT_FALSE(b_.active());
  EXPECT_EQ(next, acquired + 10s + 1ms);
  clock_.Set(next);
  testing::ElectorStepper::Tick(b_);
  EXPECT_TRUE(b_.active());
  EXPECT_EQ(b_.token(), 2u);
}

TEST_F(TwoElectorTest, PassiveFollowsRenewalsAtItsHeartbeat) {
  testing::ElectorStepper::Tick(a_);
  const TimePoint sent = clock_.Now();
  EXPECT_EQ(testing::ElectorStepper::Tick(b_), sent + 2s);
}

TEST_F(TwoElectorTest, TokenIsNewAndLargerAtEveryAcquisitionAndKeptByRenewals) {
  testing::ElectorStepper::Tick(a_);
  ASSERT_TRUE(a_.active());
  const uint64_t first = a_.token();
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(2s);
    testing::ElectorStepper::Tick(a_);
    EXPECT_EQ(a_.token(), first);
  }
  for (const Event& e : listener_a_.events()) EXPECT_EQ(e.token, first);

  a_.GiveUp(0s);
  EXPECT_FALSE(a_.active());
  testing::ElectorStepper::Tick(b_);
  ASSERT_TRUE(b_.active());
  EXPECT_GT(b_.token(), first);

  b_.GiveUp(1h);
  testing::ElectorStepper::Tick(a_);
  ASSERT_TRUE(a_.active());
  EXPECT_GT(a_.token(), b_.token());
}

TEST_F(TwoElectorTest, DeposedHolderCannotRenewOrRelease) {
  testing::ElectorStepper::Tick(a_);
  const uint64_t old_token = a_.token();
  clock_.Advance(10s);  // a was paused past its ttl.
  testing::ElectorStepper::Tick(b_);
  ASSERT_TRUE(b_.active());

  testing::ElectorStepper::Tick(a_);  // Its deadline passed long ago; the store has moved on too.
  EXPECT_FALSE(a_.active());
  auto events = listener_a_.events();
  ASSERT_EQ(events.back().kind, Event::kPassive);
  EXPECT_EQ(events.back().reason, PassiveReason::kDeadlinePassed);

  auto released = store_a_->Release({"billing", kActiveLease}, a_.options().self.holder, old_token);
  ASSERT_TRUE(released.ok());
  EXPECT_FALSE(*released);
  auto snapshot = store_b_->Snapshot("billing", kActiveLease);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(snapshot->lease.holder, b_.options().self.holder);
  EXPECT_EQ(snapshot->lease.token, b_.token());
}

TEST_F(ElectorTest, StopEndsWorkThenReleasesThenUnregisters) {
  auto store = OpenStore();
  RecordingListener listener;
  Elector elector(*store, Options("a"), listener);
  bool lease_held_while_stopping = false;
  listener.on_passive = [&] {
    auto snapshot = store->Snapshot("billing", kActiveLease);
    lease_held_while_stopping =
        snapshot.ok() && !snapshot->lease.free() && snapshot->members.size() == 1;
  };
  std::thread runner([&] { EXPECT_TRUE(elector.Run().ok()); });
  ASSERT_TRUE(listener.AwaitEvents(1));
  elector.RequestStop();
  runner.join();
  EXPECT_TRUE(lease_held_while_stopping);
  EXPECT_EQ(listener.AwaitPassive(), PassiveReason::kStopping);
  auto snapshot = store->Snapshot("billing", kActiveLease);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(snapshot->lease.free());
  EXPECT_TRUE(snapshot->members.empty());
}

TEST_F(ElectorTest, SecondInstanceWithTheSameIdIsRefused) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  RecordingListener listener_a, listener_b;
  Elector a(*store_a, Options("same"), listener_a);
  Elector b(*store_b, Options("same"), listener_b);
  std::thread runner([&] { EXPECT_TRUE(a.Run().ok()); });
  ASSERT_TRUE(listener_a.AwaitEvents(1));

  // b waits ttl + heartbeat (of the fake clock) for the row to expire, which a live owner
  // never lets happen.
  std::optional<Result<void>> result;
  std::atomic<bool> returned{false};
  const TimePoint started = clock_.Now();
  std::thread second([&] {
    result = b.Run();
    returned = true;
  });
  for (int i = 0; i < 1000 && !returned; ++i) {
    clock_.Advance(TestTiming().heartbeat / 4);
    std::this_thread::sleep_for(2ms);
  }
  second.join();
  ASSERT_TRUE(result);
  ASSERT_FALSE(result->ok());
  EXPECT_EQ(result->error().code(), ErrorCode::kConflict);
  EXPECT_GE(clock_.Now() - started, TestTiming().ttl + TestTiming().heartbeat);
  a.RequestStop();
  runner.join();
}

// The row with our id outlives the store's bound (here a bound of 1 s against SQLite's
// 10 s ttl). When it names a process of this host that is gone, the restarted instance
// waits until the row expires and joins; when that process lives, it gives up at the bound.
TEST_F(ElectorTest, ARowOutlivingTheBoundIsWaitedOutOnlyWhenItsProcessIsGone) {
  const pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_GT(gone, 0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);

  for (const pid_t owner : {gone, getpid()}) {
    SCOPED_TRACE(owner == gone ? "the owner is gone" : "the owner lives");
    FaultyRig rig(*this, "same", /*do_register=*/false);
    rig.store.set_member_expiry_bound(1s);
    MemberInfo old = rig.elector.options().self;
    old.holder = NewHolder("same");
    old.pid = owner;
    const std::string group = "restart-" + std::to_string(owner);
    ElectorOptions options = Options("same");
    options.lease.group = group;
    ASSERT_TRUE(rig.store.Register(group, old, TestTiming().ttl).ok());
    Elector restarted(rig.store, options, rig.listener);

    std::optional<Result<void>> result;
    std::atomic<bool> returned{false};
    const TimePoint started = clock_.Now();
    std::thread runner([&] {
      result = restarted.Run();
      returned = true;
    });
    // Past the row's ttl (10 s), in steps of a quarter heartbeat.
    for (int i = 0; i < 40 && !returned; ++i) {
      clock_.Advance(TestTiming().heartbeat / 4);
      std::this_thread::sleep_for(5ms);
    }
    if (owner == gone) {
      ASSERT_TRUE(rig.listener.AwaitEvents(1)) << "the restarted instance never joined";
      EXPECT_FALSE(returned);
      restarted.RequestStop();
    }
    runner.join();
    ASSERT_TRUE(result);
    if (owner == gone) {
      EXPECT_TRUE(result->ok()) << result->error().message();
    } else {
      ASSERT_FALSE(result->ok());
      EXPECT_EQ(result->error().code(), ErrorCode::kConflict);
      EXPECT_LT(clock_.Now() - started, TestTiming().ttl) << "gave up only after the row expired";
    }
  }
}

TEST_F(ElectorTest, UnavailableStoreIsRetriedWithBackoff) {
  FaultyRig rig(*this, "a");
  auto& [inner, store, listener, elector] = rig;
  store.set_mode(FaultyStore::Mode::kFail);
  Duration previous{0};
  for (int i = 0; i < 8; ++i) {
    const TimePoint now = clock_.Now();
    const Duration wait = testing::ElectorStepper::Tick(elector) - now;
    EXPECT_GT(wait, 0s);
    EXPECT_LE(wait, 2400ms);  // Capped near the heartbeat (with jitter).
    if (i > 0 && i < 4) {
      EXPECT_GT(wait, previous * 1.2);  // Grows at first.
    }
    previous = wait;
    clock_.Advance(wait);
  }
  store.set_mode(FaultyStore::Mode::kPass);
  testing::ElectorStepper::Tick(elector);
  EXPECT_TRUE(elector.active());
}

}  // namespace
}  // namespace baton
