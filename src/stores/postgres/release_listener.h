#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "baton/clock.h"
#include "baton/store.h"
#include "connection.h"
#include "lease_watch.h"

namespace baton::postgres_detail {

// A store's one connection: the statements of every call, and the LISTEN that wakes waiting
// instances. One connection per process, not two: a thousand instances are a thousand server
// backends.
struct SharedConnection {
  std::mutex mu;                           // Serializes every use of `connection`.
  std::unique_ptr<Connection> connection;  // Guarded by mu; nullptr until opened, or once lost.
  uint64_t generation = 0;                 // Guarded by mu: connections installed so far.
  int notification_wake = -1;              // Guarded by mu: handed to each connection.

  // REQUIRES: mu held. Makes `opened` the connection.
  void Install(std::unique_ptr<Connection> opened);
};

// Calls each watcher's `on_release` soon after its lease is released or a handover of it is
// requested. The store's connection LISTENs on the group's channel, where the schema's
// functions NOTIFY in the same transaction as every release, acquisition, renewal and
// handover request. A thread of its own waits on the connection's socket between the store's
// calls and reads what arrives; a notification that a call's reply brought along wakes it
// through an eventfd. Each acquisition and renewal heard is recorded in the store's LeaseWatch,
// so the store's own watch of a live holder (SPEC 2.5) starts without waiting for a heartbeat.
//
// On each new connection it LISTENs again, reads each watched lease once, records it, and
// reports it if it is free, since a release may have come while nobody listened. When the
// connection is lost and no call of the store opens another, the thread opens one, outside
// the store's lock, with growing, jittered backoff on `clock`; meanwhile waiting instances
// still see a release at their next heartbeat, which the contract allows.
//
// Thread safety: Watch() and the subscriptions it returns may be used from any thread. The
// thread starts with the first Watch(); the destructor stops and joins it. After a
// subscription is destroyed its callback is never called again.
class ReleaseListener final {
 public:
  ReleaseListener(SharedConnection& shared, ConnectionSettings settings, Statement read_lease,
                  Statement channel, Clock& clock, std::shared_ptr<LeaseWatch> watch);
  ~ReleaseListener();
  ReleaseListener(const ReleaseListener&) = delete;
  ReleaseListener& operator=(const ReleaseListener&) = delete;

  std::unique_ptr<Subscription> Watch(const LeaseKey& lease, std::function<void()> on_release);

 private:
  class Watching;
  struct Watcher {
    LeaseKey lease;
    std::function<void()> on_release;
  };
  // What one look at the connection found, to act on outside the store's lock.
  struct Heard {
    std::vector<Connection::Notification> notifications;
    std::vector<std::pair<LeaseKey, std::optional<LeaseView>>> leases;  // nullopt: no row.
  };

  void Loop();
  // REQUIRES: shared_.mu held. LISTENs on every watched group's channel and reads each
  // watched lease into `heard`. false if the connection failed.
  bool Listen(Connection& connection, Heard& heard);
  // Acts on what was heard: sightings into the lease watch, releases to the watchers.
  void Dispatch(const Heard& heard);
  void Handle(const std::string& payload, TimePoint heard);
  // Whether a watcher here watches `lease` (a channel is a group's, and hashes may collide).
  bool Watches(const LeaseKey& lease);
  // Calls on_release of each watcher of `lease`, unless stopping.
  void ReportRelease(const LeaseKey& lease);
  // Opens a connection outside the store's lock and installs it unless a call beat us to it.
  bool Reconnect();
  void Unwatch(uint64_t id);
  void Wake();

  SharedConnection& shared_;
  const ConnectionSettings settings_;
  const Statement read_lease_;
  const Statement channel_;
  Clock& clock_;
  const std::shared_ptr<LeaseWatch> watch_;
  const int wake_fd_;  // An eventfd: a stop, a new watcher, or notifications a call collected.

  std::mutex watchers_mu_;  // Guards the three below; held while calling back.
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_id_ = 0;
  bool watchers_changed_ = false;

  std::map<std::string, std::string> channels_;  // group → channel; used by the thread only.
  std::atomic<bool> stop_{false};
  Wakeup backoff_wakeup_;  // Ends a backoff wait early.
  std::once_flag started_;
  std::thread thread_;
};

}  // namespace baton::postgres_detail
