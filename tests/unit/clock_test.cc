#include "baton/clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace baton {
namespace {

using namespace std::chrono_literals;

TEST(RealClock, IsBootTimeAndWaitsUntilTheDeadline) {
  Clock& clock = Clock::Real();
  const TimePoint start = clock.Now();
  Wakeup wakeup;
  EXPECT_FALSE(clock.WaitUntil(start + 20ms, wakeup));
  EXPECT_GE(clock.Now() - start, 20ms);
}

TEST(RealClock, WakesEarlyWhenNotified) {
  Clock& clock = Clock::Real();
  Wakeup wakeup;
  std::thread notifier([&] {
    std::this_thread::sleep_for(10ms);
    wakeup.Notify();
  });
  const TimePoint start = clock.Now();
  EXPECT_TRUE(clock.WaitUntil(start + 10s, wakeup));
  EXPECT_LT(clock.Now() - start, 5s);
  notifier.join();
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock;
  const TimePoint t0 = clock.Now();
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(5s);
  EXPECT_EQ(clock.Now(), t0 + 5s);
}

TEST(FakeClock, WaiterWakesWhenTimeReachesItsDeadline) {
  FakeClock clock;
  const TimePoint deadline = clock.Now() + 1h;
  std::atomic<bool> done{false};
  Wakeup wakeup;
  std::thread waiter([&] {
    EXPECT_FALSE(clock.WaitUntil(deadline, wakeup));
    done = true;
  });
  ASSERT_TRUE(clock.AwaitWaiters(1));
  clock.Set(deadline - 1ns);
  std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(done);
  clock.Set(deadline);
  waiter.join();
  EXPECT_TRUE(done);
}

TEST(FakeClock, NotificationSentBeforeTheWaitIsKept) {
  FakeClock clock;
  Wakeup wakeup;
  wakeup.Notify();
  EXPECT_TRUE(clock.WaitUntil(clock.Now() + 1h, wakeup));
}

}  // namespace
}  // namespace baton
