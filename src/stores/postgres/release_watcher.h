#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "baton/clock.h"
#include "baton/store.h"
#include "connection.h"
#include "lease_watch.h"

namespace baton::postgres_detail {

// Calls `on_release` soon after a lease is released or a handover of it is requested. A thread
// with a connection of its own LISTENs on the group's channel, where the schema's functions
// NOTIFY in the same transaction as every release, acquisition, renewal and handover request;
// it calls back for each release and request of its lease, and
// records every acquisition and renewal in the store's LeaseWatch the moment it hears of it,
// so the store's own watch of a live holder (SPEC 2.5) starts without waiting for a heartbeat.
//
// On (re)connecting it reads the lease once, records it, and reports it if it is free, since
// a release may have come while it was not listening. A lost connection is opened again with
// growing, jittered backoff on `clock`; meanwhile waiting instances still see a release at
// their next heartbeat, which the contract allows.
//
// Thread safety: created and destroyed on any one thread; the destructor wakes and joins the
// thread, after which `on_release` is never called again.
class ReleaseWatcher final : public Subscription {
 public:
  ReleaseWatcher(ConnectionSettings settings, Statement read_lease, Statement channel, Clock& clock,
                 std::shared_ptr<LeaseWatch> watch, LeaseKey lease,
                 std::function<void()> on_release);
  ~ReleaseWatcher() override;
  ReleaseWatcher(const ReleaseWatcher&) = delete;
  ReleaseWatcher& operator=(const ReleaseWatcher&) = delete;

 private:
  void Loop();
  // LISTENs on the group's channel, then looks at the lease. false if the connection failed.
  bool Listen(Connection& connection);
  // Acts on one notification.
  void Handle(const std::string& payload);
  void Report();

  const ConnectionSettings settings_;
  const Statement read_lease_;
  const Statement channel_;
  Clock& clock_;
  const std::shared_ptr<LeaseWatch> watch_;
  const LeaseKey lease_;
  const std::function<void()> on_release_;

  std::string listening_on_;  // The channel's name; used by the thread only.
  std::atomic<bool> stop_{false};
  Wakeup wakeup_;       // Ends a backoff wait early.
  const int wake_fd_;   // An eventfd that ends a wait for notifications early.
  std::thread thread_;  // Last: starts once everything it uses is built.
};

}  // namespace baton::postgres_detail
