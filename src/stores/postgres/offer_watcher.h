#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/store.h"
#include "connection.h"

namespace baton::postgres_detail {

// Calls `on_offer` soon after an offer to `queue` commits. A thread with a connection of its
// own LISTENs on the queue's channel, where the offer function NOTIFYs once per statement in
// the offer's transaction. On (re)connecting it calls back once, since an offer may have come
// while it was not listening. A lost connection is opened again with growing backoff on
// `clock`; meanwhile workers still find offers at their next poll.
//
// Thread safety: created and destroyed on any one thread; the destructor wakes and joins the
// thread, after which `on_offer` is never called again.
class OfferWatcher final : public Subscription {
 public:
  OfferWatcher(ConnectionSettings settings, Statement channel, Clock& clock, QueueKey queue,
               std::function<void()> on_offer);
  ~OfferWatcher() override;
  OfferWatcher(const OfferWatcher&) = delete;
  OfferWatcher& operator=(const OfferWatcher&) = delete;

 private:
  void Loop();
  bool Listen(Connection& connection);

  const ConnectionSettings settings_;
  const Statement channel_;
  Clock& clock_;
  const QueueKey queue_;
  const std::function<void()> on_offer_;

  std::string listening_on_;  // Used by the thread only.
  std::atomic<bool> stop_{false};
  Wakeup wakeup_;       // Ends a backoff wait early.
  const int wake_fd_;   // An eventfd that ends a wait for notifications early.
  std::thread thread_;  // Last: starts once everything it uses is built.
};

}  // namespace baton::postgres_detail
