// baton-pg-scale-bench: many instances on one PostgreSQL, in one group or in many, and how
// long each heartbeat takes as the instance sees it, from sending the statement to having the
// reply; with --stats, what the server spent on it; and the crash failover time at that size.
// SPEC 2, "Numbers it must reach". Prints a Markdown table; exits non-zero only when something
// broke (a group that did not form, not exactly one active per group at the end, a failed
// heartbeat, no takeover after the crash).
//
//   baton-pg-scale-bench --store URL [--instances 500] [--groups 1] [--window 30s] [--ttl 10s]
//                        [--stats SUPERUSER_URL] [--results FILE]
//
// Each instance is an Elector, the state machine `baton run` is built on, with a store of its
// own (one connection, which also LISTENs), all in this process, so that every heartbeat can
// be timed where it is made. What this leaves out of a real deployment is what an idle
// `baton run` adds around the elector: a process and a waiting guardian.
//
// The crash: after the window, the active instance of the first group stops reaching the
// store (every call fails at once, as if its process had died with its connection), and the
// time until another instance of the group is active is measured.

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
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
#include "scale_report.h"
#include "server_stats.h"
#include "timed_store.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

struct Options {
  std::string store_url;
  int instances = 500;  // Per group.
  int groups = 1;
  std::string window = "30s";
  std::string ttl = "10s";
  std::string stats_url;     // Empty: no server statistics.
  std::string results_path;  // Empty: no JSON line.
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Many instances of one group on one PostgreSQL: heartbeat latency as each instance sees "
      "it. Prints a Markdown table.",
      "baton-pg-scale-bench"};
  app.add_option("--store", o.store_url, "The PostgreSQL URL the instances connect with")
      ->required();
  app.add_option("--instances", o.instances, "Instances in each group (default 500)")
      ->check(AtLeast(2));
  app.add_option("--groups", o.groups, "Groups of --instances each (default 1)")->check(AtLeast(1));
  app.add_option("--stats", o.stats_url,
                 "A superuser URL of the same database with pg_stat_statements: report what "
                 "the server spent per heartbeat");
  app.add_option("--results", o.results_path, "Append the row as a JSON line to this file");
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

// When an instance last became active. Thread-safe.
class Activity final : public ElectorListener {
 public:
  void OnActive(uint64_t, TimePoint) override { became_active_ = steady_clock::now(); }
  void OnRenewed(uint64_t, TimePoint) override {}
  void OnPassive(PassiveReason) override {}
  steady_clock::time_point became_active() const { return became_active_; }

 private:
  std::atomic<steady_clock::time_point> became_active_{};
};

struct Instance {
  int group = 0;
  std::unique_ptr<TimedStore> store;
  Activity activity;
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

int AllMembers(Store& store, const std::vector<std::string>& groups) {
  int total = 0;
  for (const std::string& group : groups) {
    const int n = Members(store, group);
    if (n < 0) return -1;
    total += n;
  }
  return total;
}

// Crashes the active instance of group 0 and waits up to `patience` for another instance of
// it to become active: the milliseconds from the crash, or -1 when nobody took over.
double CrashFailoverMs(std::vector<Instance>& instances, std::chrono::nanoseconds patience) {
  Instance* victim = nullptr;
  for (Instance& instance : instances) {
    if (instance.group == 0 && instance.elector && instance.elector->active()) victim = &instance;
  }
  if (victim == nullptr) return -1;
  const steady_clock::time_point crashed = steady_clock::now();
  victim->store->Crash();
  const steady_clock::time_point give_up = crashed + patience;
  while (steady_clock::now() < give_up && !Interrupted()) {
    for (const Instance& instance : instances) {
      if (&instance == victim || instance.group != 0) continue;
      const steady_clock::time_point at = instance.activity.became_active();
      if (at > crashed) return std::chrono::duration<double, std::milli>(at - crashed).count();
    }
    Sleep(milliseconds(5));
  }
  return -1;
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
  std::vector<std::string> groups;
  for (int g = 0; g < options.groups; ++g) {
    groups.push_back("scale-bench-" + std::to_string(getpid()) + "-" + std::to_string(g + 1));
  }
  std::unique_ptr<Store> observer = MustOpen(options.store_url);
  // A store that cannot be reached is opened anyway (its calls fail until it can): say so now
  // rather than after waiting for 500 instances that cannot register.
  if (auto reachable = observer->Snapshot(groups[0], kActiveLease); !reachable) {
    std::fprintf(stderr, "bench: %s\n", reachable.error().message().c_str());
    return 2;
  }
  std::optional<ServerStats> stats;
  if (!options.stats_url.empty()) {
    std::string error;
    stats = ServerStats::Connect(options.stats_url, error);
    if (!stats) {
      std::fprintf(stderr, "bench: --stats: %s\n", error.c_str());
      return 2;
    }
  }

  const int total = options.instances * options.groups;
  Latencies latencies;
  std::vector<Instance> instances(static_cast<size_t>(total));
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<int64_t> spread(0, timing->heartbeat.count());
  const double load_start = LoadAverage();
  std::fprintf(stderr, "bench: starting %d instances in %d group(s)\n", total, options.groups);
  for (int i = 0; i < total && !Interrupted(); ++i) {
    Instance& instance = instances[static_cast<size_t>(i)];
    instance.group = i % options.groups;
    instance.store = std::make_unique<TimedStore>(
        MustOpen(options.store_url),
        [&latencies](nanoseconds took, bool ok) { latencies.Add(took, ok); });
    ElectorOptions elector_options;
    elector_options.lease = {groups[static_cast<size_t>(instance.group)], kActiveLease};
    const std::string id = "i" + std::to_string(i + 1);
    elector_options.self = {id, NewHolder(id), "bench", getpid(), "bench"};
    elector_options.timing = *timing;
    instance.elector =
        std::make_unique<Elector>(*instance.store, elector_options, instance.activity);
    // Spread over a heartbeat, as instances started at different times would be.
    const nanoseconds delay(spread(random) / total);
    std::this_thread::sleep_for(delay);
    instance.thread = std::thread([&instance] { instance.result = instance.elector->Run(); });
  }

  bool broken = false;
  const auto give_up = steady_clock::now() + std::chrono::seconds(120 + total / 20);
  while (!Interrupted() && AllMembers(*observer, groups) != total) {
    if (steady_clock::now() > give_up) {
      std::fprintf(stderr, "bench: only %d of %d instances registered in time\n",
                   AllMembers(*observer, groups), total);
      broken = true;
      break;
    }
    Sleep(milliseconds(500));
  }
  std::optional<ServerWindow> server;
  if (!broken) {
    Sleep(3 * timing->heartbeat);  // Start-up is over: every instance heartbeats in its rhythm.
    std::fprintf(stderr, "bench: timing every heartbeat for %s\n", options.window.c_str());
    std::string error;
    if (stats && !stats->Begin(error)) std::fprintf(stderr, "bench: --stats: %s\n", error.c_str());
    latencies.set_recording(true);
    Sleep(window);
    latencies.set_recording(false);
    if (stats) {
      server = stats->End(error);
      if (!server) std::fprintf(stderr, "bench: --stats: %s\n", error.c_str());
    }
  }
  int active = 0;
  for (const Instance& instance : instances) {
    if (instance.elector && instance.elector->active()) ++active;
  }
  const int members = AllMembers(*observer, groups);
  const double load_end = LoadAverage();
  double failover_ms = -1;
  if (!broken && active == options.groups) {
    std::fprintf(stderr, "bench: crashing the active instance of one group\n");
    failover_ms = CrashFailoverMs(instances, 3 * timing->ttl);
  }
  for (Instance& instance : instances) {
    if (instance.elector) instance.elector->RequestStop();
  }
  for (Instance& instance : instances) {
    if (instance.thread.joinable()) instance.thread.join();
  }

  ScalePoint point;
  point.groups = options.groups;
  point.per_group = options.instances;
  point.ttl_text = options.ttl;
  point.heartbeat = timing->heartbeat;
  point.window_text = options.window;
  point.window = window;
  point.samples_ms = latencies.SamplesMs();
  point.failed = latencies.failures();
  point.server = server;
  point.crash_failover_ms = failover_ms;
  point.active_groups = active;
  point.load_start = load_start;
  point.load_end = load_end;
  point.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  std::printf("%s", FormatScaleReport(point).c_str());
  std::fflush(stdout);
  if (!options.results_path.empty()) {
    std::ofstream(options.results_path, std::ios::app) << ScaleJsonLine(point) << "\n";
  }

  broken = broken || Interrupted() || latencies.failures() > 0 || active != options.groups ||
           members != total || failover_ms < 0;
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
