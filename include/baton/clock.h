#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace baton {

// The CLOCK_BOOTTIME timeline. Unlike steady_clock it keeps counting while the machine is
// suspended, so a deadline measured on it cannot be outlived by a sleeping holder.
struct BootClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<BootClock, duration>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept;
};

using Duration = std::chrono::nanoseconds;
using TimePoint = BootClock::time_point;

// Something a waiting thread can be woken by before its deadline (a stop request, a lease
// release seen by the store). Notify() may be called from any thread; a notification that
// arrives while nobody waits is kept for the next wait.
class Wakeup final {
 public:
  void Notify();

 private:
  friend class RealClock;
  friend class FakeClock;
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

// Where baton's time comes from and how it waits. Every deadline, timeout and sleep in the
// library goes through one of these, handed in through options, so tests can run on a
// FakeClock without sleeping. Implementations are safe to call from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Blocks until Now() >= deadline or `wakeup` is notified. Returns true when woken by a
  // notification (which it consumes), false when the deadline was reached.
  virtual bool WaitUntil(TimePoint deadline, Wakeup& wakeup) = 0;
  // Sleeps until `deadline` with nothing to wake it.
  void SleepUntil(TimePoint deadline);
  void SleepFor(Duration d) { SleepUntil(Now() + d); }

  // The process-wide real clock (CLOCK_BOOTTIME). Never destroyed.
  static Clock& Real();
};

// The real clock: CLOCK_BOOTTIME.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return BootClock::now(); }
  bool WaitUntil(TimePoint deadline, Wakeup& wakeup) override;
};

// A clock that moves only when told. Waiters block (on real condition variables) until
// Advance()/Set() carries the time past their deadline, so a test decides exactly when
// each deadline passes. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::hours(1)));
  TimePoint Now() const override;
  bool WaitUntil(TimePoint deadline, Wakeup& wakeup) override;

  void Advance(Duration d);
  void Set(TimePoint t);
  // How many threads are blocked in WaitUntil right now; lets a test wait for a worker to
  // reach its wait before moving time.
  int waiters() const;
  // Blocks (in real time, up to `real_timeout`) until at least `n` threads wait.
  bool AwaitWaiters(int n, std::chrono::milliseconds real_timeout = std::chrono::seconds(10));

 private:
  struct Registry;
  std::shared_ptr<Registry> registry_;
};

}  // namespace baton
