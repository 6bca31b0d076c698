#pragma once

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/loop_observer.h"
#include "baton/result.h"
#include "baton/scheduler.h"
#include "baton/store.h"
#include "baton/timing.h"
#include "baton/worker.h"

namespace baton {

// What the active callback gets. Valid for the callback's whole run; safe to read from
// any thread.
class ActiveContext {
 public:
  virtual ~ActiveContext() = default;
  // The fencing token of this active interval: larger than any earlier interval's. Pass it
  // to the data you write (see README "Fenced data").
  virtual uint64_t token() const = 0;
  virtual const std::string& instance_id() const = 0;
  // Requested when the interval ends: at deadline − grace when no renewal has come by then,
  // at once when the lease is lost or the host stops. Return promptly: at the deadline the
  // process exits unless exit_on_overrun is off.
  virtual std::stop_token stop_token() const = 0;
  // Time until the local deadline; <= 0 once it has passed.
  virtual Duration TimeLeft() const = 0;
};

// What the passive callback gets.
class PassiveContext {
 public:
  virtual ~PassiveContext() = default;
  virtual const std::string& instance_id() const = 0;
  virtual std::stop_token stop_token() const = 0;  // Requested on becoming active or stopping.
};

// One service the host runs: elected in its own group, with its own callbacks.
struct HostedService {
  std::string group;
  // The lease of the group this service competes for. Default: the group's own ("active");
  // a queue's scheduler has "queue:<name>" (SchedulerLeaseName), so it never excludes, nor is
  // excluded by, the group's active instance.
  std::string lease = kActiveLease;
  TimingOptions timing;
  // Runs on a thread of its own while this instance is active; must return soon after
  // its stop token is requested.
  std::function<void(ActiveContext&)> active;
  // Optional: runs on a thread of its own while this instance is passive, from the first
  // heartbeat that finds another instance active.
  std::function<void(PassiveContext&)> passive;
  // If the active callback has not returned by the deadline, end the process (exit code
  // 70, for a supervisor such as systemd to restart) rather than let it run on without the
  // lease. On by default: a callback that ignores its stop token would otherwise keep
  // working while another instance is active. Off: the host waits for the callback to
  // return, however long, and only a fencing token checked by your data store protects
  // your data meanwhile.
  bool exit_on_overrun = true;
  // Optional: told of every pass of this service's elector (see ElectorOptions::observer).
  // Must outlive the host's Run().
  LoopObserver* observer = nullptr;
};

struct HostOptions {
  std::string id;                   // Default: <host>-<pid>-<random hex>.
  Clock* clock = nullptr;           // Default: Clock::Real(). Must outlive the host.
  std::string version = "library";  // The member rows' version, for `baton status`.
  // The holder identity (id plus a per-run nonce) of every service. Default: a new one. Given
  // when the process also runs electors of its own beside the host (`baton serve` does), so
  // that the process is one member, never two that refuse each other's id.
  std::string holder = {};
  // Optional: told of the events of every service's elector, and of every worker's and
  // scheduler's whose options name no sink of their own (baton/events.h). Must outlive the host.
  EventSink* events = nullptr;
};

// Runs one or more hosted services in one process, each electing its own active instance
// through `store` (like a .NET host with several hosted services), and workers that process
// queue items on every instance. On stop, each service ends its active work first, then
// releases its lease, then deletes its member row; each worker stops claiming, lets its
// running items finish or releases them.
//
// Thread safety: Add() and Run() from one thread; RequestStop() from any thread.
class ServiceHost final {
 public:
  ServiceHost(Store& store, HostOptions options = {});
  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  // REQUIRES: before Run(). kInvalidArgument for a bad group, timing or missing callback.
  Result<void> Add(HostedService service);
  // A worker hosted service: claims items of `options.queue` through `queue` and runs `work`
  // on each (see baton/worker.h), on every instance, active or passive. `options.worker_id`
  // defaults to the host's id and `options.clock` to the host's. REQUIRES: before Run();
  // `queue` outlives the host. kInvalidArgument for bad options or a missing callback.
  Result<void> AddWorker(Queue& queue, WorkerOptions options, ItemWork work);
  // A scheduler hosted service (see baton/scheduler.h): competes for the scheduler lease of
  // `options.queue` in its group with `timing`, and while it holds it runs rounds that offer
  // to `queue` the tenants `source` lists. Every offer is fenced by the lease's token, so the
  // active callback need not end the process on overrun. `options.clock` defaults to the
  // host's. `observer`, if given, is told of the passes of the scheduler lease's elector.
  // REQUIRES: before Run(); `queue`, `source` and `observer` outlive the host.
  // kInvalidArgument for bad options or timing.
  Result<void> AddScheduler(Queue& queue, SchedulerOptions options, TenantSource& source,
                            TimingOptions timing = {}, LoopObserver* observer = nullptr);
  // Counters of the scheduler added `index`-th (0 first), for logs and tests.
  SchedulerCounters scheduler_counters(size_t index) const;
  // Runs until RequestStop() (or a signal, after StopOnSignals()); returns the first
  // non-retryable error of any service (kConflict: the id is in use).
  Result<void> Run();
  void RequestStop();
  // Turns SIGTERM, SIGINT and SIGHUP into RequestStop(), on a thread the host owns and
  // joins when it is destroyed (signals after that stay pending). Call before any other
  // thread starts: it blocks those signals in the calling thread, whose mask new threads
  // inherit. A second call does nothing.
  void StopOnSignals();

  const std::string& instance_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
