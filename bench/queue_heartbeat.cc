#include "queue_heartbeat.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "baton/elector.h"
#include "baton/timing.h"
#include "baton/worker.h"
#include "harness.h"
#include "report.h"
#include "start_log.h"
#include "timed_store.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;

// Heartbeat times in ms while recording. Thread-safe.
class Recorder final {
 public:
  void Add(int64_t took_ns, bool ok) {
    if (!recording_) return;
    std::lock_guard lock(mu_);
    if (ok) {
      phase_.ms.push_back(static_cast<double>(took_ns) / 1e6);
    } else {
      ++phase_.failed;
    }
  }
  void Start() {
    std::lock_guard lock(mu_);
    phase_ = {};
    recording_ = true;
  }
  HeartbeatPhase Stop() {
    recording_ = false;
    std::lock_guard lock(mu_);
    return phase_;
  }

 private:
  std::atomic<bool> recording_{false};
  std::mutex mu_;
  HeartbeatPhase phase_;
};

class IdleListener final : public ElectorListener {
 public:
  void OnActive(uint64_t, TimePoint) override {}
  void OnRenewed(uint64_t, TimePoint) override {}
  void OnPassive(PassiveReason) override {}
};

struct Instance {
  std::unique_ptr<TimedStore> store;
  IdleListener listener;
  std::unique_ptr<Elector> elector;
  std::thread thread;
  Result<void> result;
};

struct QueueLoad {
  std::unique_ptr<Queue> queue;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  Result<void> result;
};

uint64_t Done(const std::vector<std::unique_ptr<QueueLoad>>& loads) {
  uint64_t n = 0;
  for (const auto& l : loads) n += l->worker->counters().done;
  return n;
}

}  // namespace

nlohmann::json HeartbeatResult::ToJson() const {
  const auto phase = [](const HeartbeatPhase& p) {
    return nlohmann::json{
        {"samples", p.ms.size()},          {"failed", p.failed},
        {"p50_ms", Percentile(p.ms, 50)},  {"p99_ms", Percentile(p.ms, 99)},
        {"max_ms", Percentile(p.ms, 100)}, {"queue_items_per_s", p.queue_items_per_s}};
  };
  return {{"kind", "heartbeat"},
          {"store", store},
          {"instances", config.instances},
          {"ttl_ms", config.ttl.count()},
          {"heartbeat_ms", config.heartbeat.count()},
          {"window_s", static_cast<double>(config.window.count()) / 1e3},
          {"slots", config.slots},
          {"workers", config.workers},
          {"tenants", config.tenants},
          {"idle", phase(idle)},
          {"loaded", phase(loaded)},
          {"ok", problems.empty()},
          {"problems", problems}};
}

HeartbeatResult MeasureHeartbeatUnderLoad(const QueueTarget& target,
                                          const HeartbeatConfig& config) {
  HeartbeatResult out;
  out.store = target.kind;
  out.config = config;
  TimingOptions timing_options;
  timing_options.ttl = config.ttl;
  timing_options.heartbeat = config.heartbeat;
  Result<Timing> timing = ResolveTiming(timing_options);
  if (!timing) {
    out.problems.push_back(timing.error().message());
    return out;
  }
  Recorder recorder;
  const std::string group = "queue-bench-hb-" + std::to_string(getpid());
  std::vector<std::unique_ptr<Instance>> instances;
  for (int i = 0; i < config.instances; ++i) {
    auto instance = std::make_unique<Instance>();
    instance->store = std::make_unique<TimedStore>(
        OpenStoreOrExit(target),
        [&recorder](std::chrono::nanoseconds took, bool ok) { recorder.Add(took.count(), ok); });
    ElectorOptions options;
    options.lease = {group, kActiveLease};
    const std::string id = "hb" + std::to_string(i + 1);
    options.self = {id, NewHolder(id), "bench", getpid(), "bench"};
    options.timing = *timing;
    instance->elector = std::make_unique<Elector>(*instance->store, options, instance->listener);
    Instance* raw = instance.get();
    raw->thread = std::thread([raw] { raw->result = raw->elector->Run(); });
    instances.push_back(std::move(instance));
    std::this_thread::sleep_for(config.heartbeat / config.instances);  // Spread the rhythm.
  }
  Sleep(5 * config.heartbeat);  // Registered, one active, every instance in its rhythm.

  recorder.Start();
  Sleep(config.baseline);
  out.idle = recorder.Stop();

  // The load: Workers draining, a feeder keeping a few batches ahead of them.
  const QueueKey key{"queue-bench", "hb-load-" + std::to_string(getpid())};
  std::unique_ptr<Queue> feeder_queue = OpenQueueOrExit(target);
  std::vector<std::unique_ptr<QueueLoad>> loads;
  for (int w = 0; w < config.workers; ++w) {
    auto load = std::make_unique<QueueLoad>();
    load->queue = OpenQueueOrExit(target);
    WorkerOptions options;
    options.queue = key;
    options.worker_id = "bench-load-" + std::to_string(w + 1);
    options.concurrency = config.slots;
    load->worker = std::make_unique<Worker>(*load->queue, options,
                                            [](ItemContext&) { return WorkResult::Done(); });
    QueueLoad* raw = load.get();
    raw->thread = std::thread([raw] { raw->result = raw->worker->Run(); });
    loads.push_back(std::move(load));
  }
  std::atomic<bool> feeding{true};
  std::atomic<int64_t> offered{0};
  std::string feed_error;
  std::thread feeder([&] {
    constexpr int64_t kAhead = 4 * kMaxRowsPerTransaction;
    while (feeding) {
      if (offered - static_cast<int64_t>(Done(loads)) > kAhead) {
        std::this_thread::sleep_for(milliseconds(2));
        continue;
      }
      Result<std::vector<uint64_t>> ids =
          OfferItems(*feeder_queue, key, offered, kMaxRowsPerTransaction, config.tenants);
      if (!ids) {
        feed_error = ids.error().message();
        return;
      }
      offered += static_cast<int64_t>(ids->size());
    }
  });
  Sleep(milliseconds(500));  // The load is up.
  const uint64_t done_before = Done(loads);
  const int64_t loaded_start = MonoNs();
  recorder.Start();
  Sleep(config.window);
  out.loaded = recorder.Stop();
  const int64_t loaded_end = MonoNs();
  out.loaded.queue_items_per_s = static_cast<double>(Done(loads) - done_before) /
                                 (static_cast<double>(loaded_end - loaded_start) / 1e9);
  feeding = false;
  feeder.join();
  if (!feed_error.empty()) out.problems.push_back("offering failed: " + feed_error);

  // Drain what is left, then check the account.
  const int64_t drain_until = MonoNs() + 60'000'000'000;
  while (static_cast<int64_t>(Done(loads)) < offered && MonoNs() < drain_until && !Interrupted()) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  for (auto& l : loads) l->worker->RequestStop();
  for (auto& l : loads) {
    l->thread.join();
    if (!l->result) out.problems.push_back("Worker::Run: " + l->result.error().message());
    const WorkerCounters k = l->worker->counters();
    if (k.stale > 0 || k.failed > 0) {
      out.problems.push_back("Worker counters: stale " + std::to_string(k.stale) + ", failed " +
                             std::to_string(k.failed));
    }
  }
  for (std::string& p : CheckDrained(*feeder_queue, key, offered)) out.problems.push_back(p);

  int active = 0;
  for (const auto& instance : instances) active += instance->elector->active() ? 1 : 0;
  if (active != 1) out.problems.push_back(std::to_string(active) + " active instances, expected 1");
  for (auto& instance : instances) instance->elector->RequestStop();
  for (auto& instance : instances) {
    instance->thread.join();
    if (!instance->result) out.problems.push_back("Elector: " + instance->result.error().message());
  }
  if (out.idle.failed + out.loaded.failed > 0) {
    out.problems.push_back(std::to_string(out.idle.failed + out.loaded.failed) +
                           " heartbeats failed");
  }
  return out;
}

}  // namespace baton::bench
