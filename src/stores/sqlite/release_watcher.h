#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/store.h"
#include "write_waker.h"

namespace baton::sqlite_detail {

// Calls `on_release` soon after a lease is released, so a waiting instance can take it at
// once. SQLite has no notifications between processes, so a thread looks at
// `PRAGMA data_version` on a connection of its own — a read of the WAL index in shared
// memory, microseconds — whenever the kernel reports a write to the file or its log
// (WriteWaker), and every kSafetyPoll besides (every `poll` where inotify is missing), and
// reads the lease row only when another connection has committed. It reports each release once (a
// free lease with a token it has not reported yet), and each handover request once
// (RequestHandover, for the holder to act on at once); the first look reports a lease that is
// already free, or already asked to hand over, since that may have happened just before the watch
// began.
//
// Thread safety: created and destroyed on any one thread; the destructor wakes and joins the
// polling thread, after which `on_release` is never called again. Waits go through `clock`,
// so on a FakeClock the poll advances only as the test advances time.
class ReleaseWatcher final : public Subscription {
 public:
  ReleaseWatcher(std::string path, std::string describe, Clock& clock, Duration poll,
                 LeaseKey lease, std::function<void()> on_release);
  ~ReleaseWatcher() override;
  ReleaseWatcher(const ReleaseWatcher&) = delete;
  ReleaseWatcher& operator=(const ReleaseWatcher&) = delete;

 private:
  void Loop();

  const std::string path_;
  const std::string describe_;
  Clock& clock_;
  const Duration poll_;
  const LeaseKey lease_;
  const std::function<void()> on_release_;

  std::atomic<bool> stop_{false};
  Wakeup wakeup_;
  // Wakes the loop on every write to the file (nullptr without inotify: then it polls).
  std::unique_ptr<WriteWaker> waker_;
  std::thread thread_;  // Last: starts once everything it uses is built.
};

}  // namespace baton::sqlite_detail
