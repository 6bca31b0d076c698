// baton-pg-scale-bench: many instances of one group on one PostgreSQL, and how long each
// heartbeat takes as the instance sees it, from sending the statement to having the reply.
// SPEC 2, "Numbers it must reach": at least 500 instances per group on this 2-core machine
// with heartbeat p99 under 50 ms. Prints a Markdown table; exits non-zero only when something
// broke (a group that did not form, not exactly one active at the end, a failed heartbeat).
//
//   baton-pg-scale-bench --store URL [--instances 500] [--window 30s] [--ttl 10s]
//
// Each instance is an Elector, the state machine `baton run` is built on, with store
// connections of its own (one for heartbeats, one that LISTENs), all in this process, so that
// every heartbeat can be timed where it is made. What this leaves out of a real deployment
// is what an idle `baton run` adds around the elector: a process and a waiting guardian.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "baton/elector.h"
#include "baton/postgres_store.h"
#include "duration.h"
#include "harness.h"
#include "report.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

struct Options {
  std::string store_url;
  int instances = 500;
  std::string window = "30s";
  std::string ttl = "10s";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Many instances of one group on one PostgreSQL: heartbeat latency as each instance sees "
      "it. Prints a Markdown table.",
      "baton-pg-scale-bench"};
  app.add_option("--store", o.store_url, "The PostgreSQL URL the instances connect with")
      ->required();
  app.add_option("--instances", o.instances, "Instances in the group (default 500)")
      ->check(AtLeast(2));
  app.add_option("--window", o.window, "How long to time heartbeats at steady state (default 30s)")
      ->check(DurationText());
  app.add_option("--ttl", o.ttl, "The instances' ttl; heartbeat ttl/5 (default 10s)")
      ->check(DurationText());
  ParseOrExit(app, argc, argv);
  return o;
}

// Heartbeat times of every instance in milliseconds, while `recording` is set. Thread-safe.
class Latencies final {
 public:
  void Add(nanoseconds took, bool ok) {
    if (!recording_) return;
    std::lock_guard lock(mu_);
    if (ok) {
      samples_ms_.push_back(static_cast<double>(took.count()) / 1e6);
    } else {
      ++failures_;
    }
  }
  void set_recording(bool on) { recording_ = on; }
  std::vector<double> SamplesMs() const {
    std::lock_guard lock(mu_);
    return samples_ms_;
  }
  int failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::atomic<bool> recording_{false};
  mutable std::mutex mu_;
  std::vector<double> samples_ms_;
  int failures_ = 0;
};

// The instance's store, with each heartbeat timed. Thread-safe as the store it wraps.
class TimedStore final : public Store {
 public:
  TimedStore(std::unique_ptr<Store> inner, Latencies& latencies)
      : inner_(std::move(inner)), latencies_(latencies) {}

  Result<SchemaInfo> Migrate() override { return inner_->Migrate(); }
  Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) override {
    return inner_->Register(group, self, ttl);
  }
  Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) override {
    const auto start = steady_clock::now();
    Result<HeartbeatReply> reply = inner_->Heartbeat(request);
    latencies_.Add(steady_clock::now() - start, reply.ok());
    return reply;
  }
  Result<bool> Release(const LeaseKey& lease, const std::string& holder, uint64_t token) override {
    return inner_->Release(lease, holder, token);
  }
  Result<void> Unregister(const std::string& group, const MemberInfo& self) override {
    return inner_->Unregister(group, self);
  }
  Result<HandoverReply> RequestHandover(const HandoverRequest& request) override {
    return inner_->RequestHandover(request);
  }
  Result<GroupSnapshot> Snapshot(const std::string& group, const std::string& lease_name) override {
    return inner_->Snapshot(group, lease_name);
  }
  std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                              std::function<void()> on_release) override {
    return inner_->WatchReleases(lease, std::move(on_release));
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::unique_ptr<Store> inner_;
  Latencies& latencies_;
};

// The active work of an instance: none; only whether it is active counts.
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

std::unique_ptr<Store> MustOpen(const std::string& url) {
  PostgresStoreOptions options;
  options.url = url;
  auto store = OpenPostgresStore(options);
  if (!store) {
    std::fprintf(stderr, "bench: %s\n", store.error().message().c_str());
    std::exit(2);
  }
  return std::move(store).value();
}

// Members of the group the store lists now; -1 when it cannot say.
int Members(Store& store, const std::string& group) {
  auto snapshot = store.Snapshot(group, kActiveLease);
  return snapshot ? static_cast<int>(snapshot->members.size()) : -1;
}

int Main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  const nanoseconds window = *ParseDuration(options.window);
  StopOnSignals();
  spdlog::set_level(spdlog::level::warn);  // 500 "registered" lines say nothing.
  TimingOptions timing_options;
  timing_options.ttl = *ParseDuration(options.ttl);
  Result<Timing> timing = ResolveTiming(timing_options);
  if (!timing) {
    std::fprintf(stderr, "bench: %s\n", timing.error().message().c_str());
    return 2;
  }
  const std::string group = "scale-bench-" + std::to_string(getpid());
  std::unique_ptr<Store> observer = MustOpen(options.store_url);
  // A store that cannot be reached is opened anyway (its calls fail until it can): say so now
  // rather than after waiting for 500 instances that cannot register.
  if (auto reachable = observer->Snapshot(group, kActiveLease); !reachable) {
    std::fprintf(stderr, "bench: %s\n", reachable.error().message().c_str());
    return 2;
  }

  Latencies latencies;
  std::vector<Instance> instances(static_cast<size_t>(options.instances));
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<int64_t> spread(0, timing->heartbeat.count());
  const double load_start = LoadAverage();
  std::fprintf(stderr, "bench: starting %d instances of group %s\n", options.instances,
               group.c_str());
  for (int i = 0; i < options.instances && !Interrupted(); ++i) {
    Instance& instance = instances[static_cast<size_t>(i)];
    instance.store = std::make_unique<TimedStore>(MustOpen(options.store_url), latencies);
    ElectorOptions elector_options;
    elector_options.lease = {group, kActiveLease};
    const std::string id = "i" + std::to_string(i + 1);
    elector_options.self = {id, NewHolder(id), "bench", getpid(), "bench"};
    elector_options.timing = *timing;
    instance.elector =
        std::make_unique<Elector>(*instance.store, elector_options, instance.listener);
    // Spread over a heartbeat, as instances started at different times would be.
    const nanoseconds delay(spread(random) / options.instances);
    std::this_thread::sleep_for(delay);
    instance.thread = std::thread([&instance] { instance.result = instance.elector->Run(); });
  }

  bool broken = false;
  const auto give_up = steady_clock::now() + std::chrono::seconds(120);
  while (!Interrupted() && Members(*observer, group) != options.instances) {
    if (steady_clock::now() > give_up) {
      std::fprintf(stderr, "bench: only %d of %d instances registered within 120 s\n",
                   Members(*observer, group), options.instances);
      broken = true;
      break;
    }
    Sleep(milliseconds(200));
  }
  if (!broken) {
    Sleep(3 * timing->heartbeat);  // Start-up is over: every instance heartbeats in its rhythm.
    std::fprintf(stderr, "bench: timing every heartbeat for %s\n", options.window.c_str());
    latencies.set_recording(true);
    Sleep(window);
    latencies.set_recording(false);
  }
  int active = 0;
  for (const Instance& instance : instances) {
    if (instance.elector && instance.elector->active()) ++active;
  }
  const int members = Members(*observer, group);
  const double load_end = LoadAverage();
  for (Instance& instance : instances) {
    if (instance.elector) instance.elector->RequestStop();
  }
  for (Instance& instance : instances) {
    if (instance.thread.joinable()) instance.thread.join();
  }

  const std::vector<double> samples = latencies.SamplesMs();
  const double window_s = static_cast<double>(window.count()) / 1e9;
  std::printf(
      "| instances | ttl | heartbeat | window s | heartbeats | per second | failed | p50 ms | "
      "p99 ms | max ms | must (p99 < 50 ms) | active at the end | members at the end |\n"
      "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
  const double p99 = Percentile(samples, 99);
  std::printf("| %d | %s | %s | %.0f | %zu | %.0f | %d | %.1f | %.1f | %.1f | %s | %d | %d |\n",
              options.instances, options.ttl.c_str(), FormatDuration(timing->heartbeat).c_str(),
              window_s, samples.size(), static_cast<double>(samples.size()) / window_s,
              latencies.failures(), Percentile(samples, 50), p99, Percentile(samples, 100),
              p99 < 50 ? "met" : "**missed**", active, members);
  std::printf(
      "\nMeasured by `baton-pg-scale-bench`: %d Electors (the state machine of `baton run`) of "
      "one group in one process, each with its own PostgreSQL connections (heartbeats, "
      "LISTEN), started over one heartbeat. Once every member row was in the store and 3 "
      "heartbeats more had passed, every heartbeat call was timed on CLOCK_MONOTONIC from "
      "sending the statement to having the reply. p99 is nearest-rank. Load average %.2f at "
      "the start and %.2f at the end, on %ld CPUs.\n",
      options.instances, load_start, load_end, sysconf(_SC_NPROCESSORS_ONLN));
  std::fflush(stdout);

  broken = broken || Interrupted() || latencies.failures() > 0 || active != 1 ||
           members != options.instances;
  for (const Instance& instance : instances) {
    if (instance.elector && !instance.result) {
      std::fprintf(stderr, "bench: an instance failed: %s\n",
                   instance.result.error().message().c_str());
      broken = true;
    }
  }
  return broken ? 1 : 0;
}

}  // namespace
}  // namespace baton::bench

int main(int argc, char** argv) { return baton::bench::Main(argc, argv); }
