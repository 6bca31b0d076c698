#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/store.h"
#include "write_waker.h"

namespace baton::sqlite_detail {

// Calls `on_offer` soon after an offer to `queue` commits, in any process on the host. Like
// the release watcher, a thread looks at `PRAGMA data_version` on a connection of its own when
// the kernel reports a write to the file (every `poll` without inotify, and every kSafetyPoll
// besides), and only when another connection has committed reads the queue's offer counter
// (baton_queues.offers, one more per offer transaction); a change is an offer. Offers made
// before the watch began are not reported: subscribe first, then claim.
//
// Thread safety: created and destroyed on any one thread; the destructor wakes and joins the
// polling thread, after which `on_offer` is never called again.
class OfferWatcher final : public Subscription {
 public:
  OfferWatcher(std::string path, std::string describe, Clock& clock, Duration poll, QueueKey queue,
               std::function<void()> on_offer);
  ~OfferWatcher() override;
  OfferWatcher(const OfferWatcher&) = delete;
  OfferWatcher& operator=(const OfferWatcher&) = delete;

 private:
  void Loop();

  const std::string path_;
  const std::string describe_;
  Clock& clock_;
  const Duration poll_;
  const QueueKey queue_;
  const std::function<void()> on_offer_;

  std::atomic<bool> stop_{false};
  Wakeup wakeup_;
  // Wakes the loop on every write to the file (nullptr without inotify: then it polls).
  std::unique_ptr<WriteWaker> waker_;
  std::thread thread_;  // Last: starts once everything it uses is built.
};

}  // namespace baton::sqlite_detail
