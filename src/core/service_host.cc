#include "baton/service_host.h"

#include <string.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "baton/elector.h"
#include "signal_watcher.h"

namespace baton {
namespace {

constexpr int kOverrunExitCode = 70;  // EX_SOFTWARE

class ActiveContextImpl final : public ActiveContext {
 public:
  ActiveContextImpl(uint64_t token, const std::string& id, Clock& clock, TimePoint deadline)
      : token_(token), id_(id), clock_(clock), deadline_ns_(deadline.time_since_epoch().count()) {}

  uint64_t token() const override { return token_; }
  const std::string& instance_id() const override { return id_; }
  std::stop_token stop_token() const override { return stop_.get_token(); }
  Duration TimeLeft() const override {
    return TimePoint(Duration(deadline_ns_.load())) - clock_.Now();
  }
  void set_deadline(TimePoint deadline) { deadline_ns_ = deadline.time_since_epoch().count(); }
  TimePoint deadline() const { return TimePoint(Duration(deadline_ns_.load())); }
  void RequestStop() { stop_.request_stop(); }

 private:
  const uint64_t token_;
  const std::string& id_;
  Clock& clock_;
  std::atomic<Duration::rep> deadline_ns_;
  std::stop_source stop_;
};

class PassiveContextImpl final : public PassiveContext {
 public:
  explicit PassiveContextImpl(const std::string& id) : id_(id) {}
  const std::string& instance_id() const override { return id_; }
  std::stop_token stop_token() const override { return stop_.get_token(); }
  void RequestStop() { stop_.request_stop(); }

 private:
  const std::string& id_;
  std::stop_source stop_;
};

// Runs one hosted service's callbacks on their own threads as its elector says.
class ServiceRunner final : public ElectorListener {
 public:
  ServiceRunner(HostedService service, const std::string& id, Clock& clock, Duration grace)
      : service_(std::move(service)), id_(id), clock_(clock), grace_(grace) {}
  ~ServiceRunner() override { StopPassive(); }

  void OnActive(uint64_t token, TimePoint deadline) override {
    StopPassive();
    active_ = std::make_unique<ActiveContextImpl>(token, id_, clock_, deadline);
    done_ = false;
    active_thread_ = std::thread([this] {
      try {
        service_.active(*active_);
      } catch (const std::exception& e) {
        spdlog::error("the active callback of group \"{}\" threw: {}", service_.group, e.what());
      }
      {
        std::lock_guard lock(mu_);
        done_ = true;
      }
      done_cv_.notify_all();
    });
    grace_thread_ = std::thread([this, context = active_.get()] { WarnBeforeDeadline(*context); });
  }

  void OnRenewed(uint64_t /*token*/, TimePoint deadline) override {
    if (active_) active_->set_deadline(deadline);
    grace_wakeup_.Notify();
  }

  void OnStillPassive() override { StartPassive(); }

  void OnPassive(PassiveReason reason) override {
    StopActive();
    if (reason != PassiveReason::kStopping) StartPassive();
  }

  void StartPassive() {
    if (!service_.passive || passive_thread_.joinable()) return;
    passive_ = std::make_unique<PassiveContextImpl>(id_);
    passive_thread_ = std::thread([this] {
      try {
        service_.passive(*passive_);
      } catch (const std::exception& e) {
        spdlog::error("the passive callback of group \"{}\" threw: {}", service_.group, e.what());
      }
    });
  }

 private:
  // The callback's SIGTERM: when no renewal has come by deadline − grace, its stop token is
  // requested, so work that obeys it ends before the deadline, where exit_on_overrun acts.
  void WarnBeforeDeadline(ActiveContextImpl& context) {
    while (!context.stop_token().stop_requested()) {
      const TimePoint warn_at = context.deadline() - grace_;
      if (clock_.Now() >= warn_at) {
        spdlog::warn(
            "no renewal of group \"{}\" in time: asking the active callback to stop, {} before "
            "the deadline",
            service_.group, FormatDuration(grace_));
        context.RequestStop();
        return;
      }
      clock_.WaitUntil(warn_at, grace_wakeup_);
    }
  }

  void StopActive() {
    if (!active_) return;
    active_->RequestStop();
    grace_wakeup_.Notify();
    if (service_.exit_on_overrun) {
      std::unique_lock lock(mu_);
      // Waits in slices on the host's clock so a fake clock in tests decides the deadline.
      while (!done_ && clock_.Now() < active_->deadline()) {
        done_cv_.wait_for(lock, std::chrono::milliseconds(5));
      }
      if (!done_) {
        spdlog::critical(
            "the active callback of group \"{}\" did not return by the deadline; "
            "exiting so it cannot run on without the lease",
            service_.group);
        _exit(kOverrunExitCode);
      }
    }
    active_thread_.join();
    grace_thread_.join();
    active_.reset();
  }

  void StopPassive() {
    if (!passive_thread_.joinable()) return;
    passive_->RequestStop();
    passive_thread_.join();
    passive_.reset();
  }

  const HostedService service_;
  const std::string& id_;
  Clock& clock_;
  const Duration grace_;
  std::unique_ptr<ActiveContextImpl> active_;
  std::thread active_thread_;
  std::thread grace_thread_;
  Wakeup grace_wakeup_;  // A renewal moved the deadline, or the interval ended.
  std::unique_ptr<PassiveContextImpl> passive_;
  std::thread passive_thread_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
};

}  // namespace

struct ServiceHost::Impl {
  Impl(Store& s, HostOptions o)
      : store(s),
        id(o.id.empty() ? DefaultInstanceId() : o.id),
        clock(o.clock != nullptr ? *o.clock : Clock::Real()),
        holder(o.holder.empty() ? NewHolder(id) : std::move(o.holder)),
        options_version(std::move(o.version)),
        events(o.events) {}

  Store& store;
  const std::string id;
  Clock& clock;
  const std::string holder;
  const std::string options_version;
  EventSink* const events;
  std::vector<HostedService> services;
  struct HostedWorker {
    Queue* queue;
    WorkerOptions options;
    ItemWork work;
  };
  std::vector<HostedWorker> workers;
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  std::mutex mu;
  std::vector<Elector*> electors;        // Guarded by mu; for RequestStop().
  std::vector<Worker*> running_workers;  // Guarded by mu; for RequestStop().
  bool stop_requested = false;           // Guarded by mu.
  // Last, so it is destroyed first: its thread calls RequestStop(), which uses the fields
  // above, and is joined before they go.
  std::unique_ptr<detail::SignalWatcher> signal_watcher;
};

ServiceHost::ServiceHost(Store& store, HostOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}

// The signal thread is joined before anything it uses is destroyed: a signal that comes
// after the host is gone stays pending instead of calling into a dead host.
ServiceHost::~ServiceHost() { impl_->signal_watcher.reset(); }

const std::string& ServiceHost::instance_id() const { return impl_->id; }

Result<void> ServiceHost::Add(HostedService service) {
  if (auto valid = ValidateName("group", service.group); !valid) return valid;
  if (auto timing = ResolveTiming(service.timing); !timing) return timing.error();
  if (service.lease.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "hosted service \"" + service.group + "\" has an empty lease name");
  }
  if (!service.active) {
    return Error(ErrorCode::kInvalidArgument,
                 "hosted service \"" + service.group + "\" has no active callback");
  }
  impl_->services.push_back(std::move(service));
  return Ok();
}

Result<void> ServiceHost::AddWorker(Queue& queue, WorkerOptions options, ItemWork work) {
  if (options.worker_id.empty()) options.worker_id = impl_->id;
  if (options.clock == nullptr) options.clock = &impl_->clock;
  if (options.events == nullptr) options.events = impl_->events;
  if (auto valid = Worker::Validate(options); !valid) return valid;
  if (!work) {
    return Error(ErrorCode::kInvalidArgument,
                 "worker of queue \"" + options.queue.queue + "\" has no callback");
  }
  impl_->workers.push_back({&queue, std::move(options), std::move(work)});
  return Ok();
}

Result<void> ServiceHost::AddScheduler(Queue& queue, SchedulerOptions options, TenantSource& source,
                                       TimingOptions timing, LoopObserver* observer) {
  if (options.clock == nullptr) options.clock = &impl_->clock;
  if (options.events == nullptr) options.events = impl_->events;
  if (auto valid = Scheduler::Validate(options); !valid) return valid;
  HostedService service;
  service.group = options.queue.group;
  service.lease = SchedulerLeaseName(options.queue.queue);
  service.timing = timing;
  service.observer = observer;
  // Offers carry the lease's token and the store refuses them once it has moved on, and the
  // scheduler stops offering when its stop token comes: a late return harms nothing, so it
  // need not cost the process (and a Worker beside it) an exit.
  service.exit_on_overrun = false;
  auto scheduler = std::make_unique<Scheduler>(queue, std::move(options), source);
  service.active = [s = scheduler.get()](ActiveContext& context) { s->RunActive(context); };
  if (auto added = Add(std::move(service)); !added) return added;
  impl_->schedulers.push_back(std::move(scheduler));
  return Ok();
}

SchedulerCounters ServiceHost::scheduler_counters(size_t index) const {
  return impl_->schedulers.at(index)->counters();
}

Result<void> ServiceHost::Run() {
  if (auto valid = ValidateName("id", impl_->id); !valid) return valid;
  const MemberInfo self{impl_->id, impl_->holder, LocalHostName(), static_cast<int64_t>(getpid()),
                        impl_->options_version};
  std::vector<std::unique_ptr<ServiceRunner>> runners;
  std::vector<std::unique_ptr<Elector>> electors;
  for (const HostedService& service : impl_->services) {
    ElectorOptions options;
    options.lease = {service.group, service.lease};
    options.self = self;
    options.timing = *ResolveTiming(service.timing);
    runners.push_back(
        std::make_unique<ServiceRunner>(service, impl_->id, impl_->clock, options.timing.grace));
    options.clock = &impl_->clock;
    options.observer = service.observer;
    options.events = impl_->events;
    electors.push_back(std::make_unique<Elector>(impl_->store, options, *runners.back()));
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (const Impl::HostedWorker& w : impl_->workers) {
    workers.push_back(std::make_unique<Worker>(*w.queue, w.options, w.work));
  }
  {
    std::lock_guard lock(impl_->mu);
    for (auto& e : electors) impl_->electors.push_back(e.get());
    for (auto& w : workers) impl_->running_workers.push_back(w.get());
    if (impl_->stop_requested) return Ok();
  }
  std::vector<Result<void>> results(electors.size() + workers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] {
      results[electors.size() + i] = workers[i]->Run();
      if (!results[electors.size() + i]) RequestStop();
    });
  }
  for (size_t i = 0; i < electors.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] = electors[i]->Run();
      // One service that cannot run (its id is taken) stops the whole host.
      if (!results[i]) RequestStop();
    });
  }
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(impl_->mu);
    impl_->electors.clear();
    impl_->running_workers.clear();
  }
  for (auto& r : results) {
    if (!r) return r;
  }
  return Ok();
}

void ServiceHost::RequestStop() {
  std::lock_guard lock(impl_->mu);
  impl_->stop_requested = true;
  for (Elector* e : impl_->electors) e->RequestStop();
  for (Worker* w : impl_->running_workers) w->RequestStop();
}

void ServiceHost::StopOnSignals() {
  if (impl_->signal_watcher) return;
  detail::BlockStopSignals();
  impl_->signal_watcher = std::make_unique<detail::SignalWatcher>([this](int sig) {
    spdlog::info("received {}: stopping", strsignal(sig));
    RequestStop();
  });
}

}  // namespace baton
