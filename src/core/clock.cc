#include "baton/clock.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>

namespace baton {

BootClock::time_point BootClock::now() noexcept {
  // The system call itself, not libc's clock_gettime: a preloaded library that fakes time
  // (libfaketime, say) must not be able to move the clock that deadlines are kept on.
  timespec ts{};
  syscall(SYS_clock_gettime, CLOCK_BOOTTIME, &ts);
  return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

void Wakeup::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

void Clock::SleepUntil(TimePoint deadline) {
  Wakeup never;
  WaitUntil(deadline, never);
}

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

bool RealClock::WaitUntil(TimePoint deadline, Wakeup& wakeup) {
  std::unique_lock lock(wakeup.mu_);
  while (!wakeup.notified_) {
    const TimePoint now = Now();
    if (now >= deadline) return false;
    // condition_variable waits on CLOCK_MONOTONIC, which stops during a suspend; waking
    // at least every second and re-reading CLOCK_BOOTTIME bounds how late a wait can end.
    const Duration left = std::min<Duration>(deadline - now, std::chrono::seconds(1));
    wakeup.cv_.wait_for(lock, left);
  }
  wakeup.notified_ = false;
  return true;
}

struct FakeClock::Registry {
  mutable std::mutex mu;
  std::condition_variable waiters_changed;
  // Read without `mu` so a waiter can check it under its Wakeup's lock while Set() holds
  // `mu` and notifies: the lock order is always mu, then a Wakeup's.
  std::atomic<TimePoint::rep> now_ns{0};
  std::multiset<Wakeup*> waiting;
};

FakeClock::FakeClock(TimePoint start) : registry_(std::make_shared<Registry>()) {
  registry_->now_ns = start.time_since_epoch().count();
}

TimePoint FakeClock::Now() const { return TimePoint(Duration(registry_->now_ns.load())); }

bool FakeClock::WaitUntil(TimePoint deadline, Wakeup& wakeup) {
  {
    std::lock_guard lock(registry_->mu);
    registry_->waiting.insert(&wakeup);
  }
  registry_->waiters_changed.notify_all();
  bool woken = false;
  {
    std::unique_lock lock(wakeup.mu_);
    // Set() takes wakeup.mu_ before notifying, so a time change cannot slip between this
    // check and the wait.
    wakeup.cv_.wait(lock, [&] { return wakeup.notified_ || Now() >= deadline; });
    woken = wakeup.notified_;
    wakeup.notified_ = false;
  }
  {
    std::lock_guard lock(registry_->mu);
    registry_->waiting.erase(registry_->waiting.find(&wakeup));
  }
  registry_->waiters_changed.notify_all();
  return woken;
}

void FakeClock::Advance(Duration d) { Set(Now() + d); }

void FakeClock::Set(TimePoint t) {
  // Holding `mu` keeps every registered Wakeup alive while it is notified: a waiter must
  // take `mu` to unregister before its Wakeup can go away.
  std::lock_guard lock(registry_->mu);
  registry_->now_ns = t.time_since_epoch().count();
  for (Wakeup* w : registry_->waiting) {
    std::lock_guard wake_lock(w->mu_);
    w->cv_.notify_all();
  }
}

int FakeClock::waiters() const {
  std::lock_guard lock(registry_->mu);
  return static_cast<int>(registry_->waiting.size());
}

bool FakeClock::AwaitWaiters(int n, std::chrono::milliseconds real_timeout) {
  std::unique_lock lock(registry_->mu);
  return registry_->waiters_changed.wait_for(
      lock, real_timeout, [&] { return static_cast<int>(registry_->waiting.size()) >= n; });
}

}  // namespace baton
