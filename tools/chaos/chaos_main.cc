// baton-chaos: runs N `baton run` instances of one group on a store, breaks things at random
// from a seed it prints, and checks the record (tools/chaos/checker.h): never two children
// active at once, tokens that grow, plus availability and failover times.
//
//   baton-chaos --store sqlite|postgresql|etcd [--duration 60s] [--seed N] [--instances 5]
//               [--ttl 1s (etcd: 2s)] [--min-each 1] [--faults kill-active,stop-active,...]
//               [--record DIR] [--intervals] [--unsafe-ignore-deadline] [--baton PATH]
//               [--probe PATH]
//
// With --mode queue (queue_run.h) it runs `baton work` workers on one queue instead, feeds
// it, breaks workers, item commands and the store, drains the queue and checks SPEC 3:
// never two items of one tenant at once, nothing lost, claim tokens that grow.
//
//   baton-chaos --mode queue --store sqlite|postgresql [--duration 60s] [--seed N]
//               [--workers 3] [--concurrency 4] [--visibility 1500ms] [--tenants 8]
//               [--item-sleep 5-80] [--drain-timeout 60s] [--faults kill-worker,...] ...
//
// Exit status: 0 when the check passed, 1 when it found a violation (or a kind of fault
// fell short of --min-each), 2 on bad usage or when the run could not be set up, 77 when an
// etcd run is skipped (BATON_SKIP_ETCD=1).

#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "baton/timing.h"
#include "checker.h"
#include "faults.h"
#include "group.h"
#include "queue_run.h"
#include "store_rig.h"
#include "support/etcd_cluster.h"
#include "support/process.h"
#include "support/wait.h"

namespace baton::chaos {
namespace {

using std::chrono::milliseconds;

std::atomic<bool> interrupted{false};

// The exit status of a run skipped on purpose (CTest's SKIP_RETURN_CODE).
constexpr int kSkipped = 77;

struct Options {
  std::string mode = "lease";
  std::string store = "sqlite";
  std::string duration = "60s";
  // Empty: 1s, or on etcd 2s, the least with which baton can tell a lease etcd revoked early
  // (etcd reports remaining time in whole seconds).
  std::string ttl;
  std::optional<uint64_t> seed;
  int instances = 5;
  int min_each = 1;
  std::vector<std::string> faults;
  std::string record_dir;
  bool unsafe_ignore_deadline = false;
  bool intervals = false;
  std::string baton_bin = BATON_BIN;
  std::string probe_bin = BATON_PROBE_BIN;
  // Queue mode.
  int workers = 3;
  int concurrency = 4;
  std::string visibility = "1500ms";
  int tenants = 8;
  std::string item_sleep;  // Empty: 5-80, with some slow items.
  std::string drain_timeout = "60s";
  std::string item_bin = BATON_CHAOS_ITEM_BIN;
  std::string item_probe_bin = BATON_ITEM_PROBE_BIN;
};

[[noreturn]] void Usage(const std::string& message) {
  std::cerr << "baton-chaos: " << message << "\n";
  std::exit(2);
}

milliseconds ParseMs(const std::string& flag, const std::string& text) {
  const Result<Duration> parsed = ParseDuration(text);
  if (!parsed) Usage(flag + ": " + parsed.error().message());
  return std::chrono::duration_cast<milliseconds>(*parsed);
}

std::vector<FaultKind> ChooseKinds(const Options& options, StoreKind store) {
  const std::vector<FaultKind> available = FaultKindsFor(store, options.mode == "queue");
  if (options.faults.empty()) return available;
  std::vector<FaultKind> kinds;
  for (const std::string& name : options.faults) {
    const std::optional<FaultKind> kind = ParseFaultKind(name);
    if (!kind || std::find(available.begin(), available.end(), *kind) == available.end()) {
      std::ostringstream known;
      for (FaultKind k : available) known << " " << Name(k);
      Usage("--faults: no fault \"" + name + "\" on " + options.store + " in " + options.mode +
            " mode; known:" + known.str());
    }
    kinds.push_back(*kind);
  }
  return kinds;
}

std::string MakeRecordDir(const std::string& wanted) {
  std::string dir = wanted;
  if (dir.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "baton-chaos-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) Usage("cannot create a directory under /tmp");
    dir = pattern;
  } else {
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error || !std::filesystem::is_empty(dir)) {
      Usage("--record " + dir + " must be a new or empty directory");
    }
  }
  return std::filesystem::absolute(dir).string();
}

// Waits until some instance's child runs; false after `timeout`.
bool WaitForActive(Group& group, FaultInjector& injector, milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!group.Active()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    injector.Sleep(milliseconds(50));
  }
  return true;
}

int RunQueue(const Options& options) {
  QueueChaosOptions queue;
  queue.store = options.store;
  queue.duration = ParseMs("--duration", options.duration);
  queue.visibility = ParseMs("--visibility", options.visibility);
  queue.drain_timeout = ParseMs("--drain-timeout", options.drain_timeout);
  if (options.workers < 2 || options.workers > 20) Usage("--workers must be 2 to 20");
  if (options.concurrency < 1 || options.concurrency > 64) Usage("--concurrency must be 1 to 64");
  if (options.tenants < 1 || options.tenants > 99) Usage("--tenants must be 1 to 99");
  const std::string item_sleep = options.item_sleep.empty() ? "5-80" : options.item_sleep;
  if (std::sscanf(item_sleep.c_str(), "%d-%d", &queue.item_sleep_min_ms,
                  &queue.item_sleep_max_ms) != 2 ||
      queue.item_sleep_min_ms < 0 || queue.item_sleep_max_ms < queue.item_sleep_min_ms) {
    Usage("--item-sleep must be MIN-MAX in milliseconds, for example 5-80");
  }
  queue.slow_items = options.item_sleep.empty();
  queue.workers = options.workers;
  queue.concurrency = options.concurrency;
  queue.tenants = options.tenants;
  queue.min_each = options.min_each;
  queue.kinds = ChooseKinds(options, *ParseStoreKind(options.store));
  queue.seed = options.seed ? *options.seed : std::random_device()();
  queue.dir = MakeRecordDir(options.record_dir);
  queue.keep_record = !options.record_dir.empty();
  queue.unsafe_ignore_deadline = options.unsafe_ignore_deadline;
  queue.intervals = options.intervals;
  queue.baton_bin = options.baton_bin;
  queue.item_bin = options.item_bin;
  queue.probe_bin = options.item_probe_bin;
  queue.interrupted = &interrupted;
  return RunQueueChaos(queue);
}

int Run(const Options& options) {
  const std::optional<StoreKind> store_kind = ParseStoreKind(options.store);
  if (!store_kind) Usage("--store must be sqlite, postgresql or etcd, not " + options.store);
  if (options.mode == "queue") {
    if (*store_kind == StoreKind::kEtcd) Usage("--mode queue needs an SQL store, not etcd");
    return RunQueue(options);
  }
  if (options.mode != "lease") Usage("--mode must be lease or queue, not " + options.mode);
  if (*store_kind == StoreKind::kEtcd) {
    if (auto skip = test_support::EtcdTestsSkipped()) {
      std::cout << "baton-chaos: " << *skip << "\n";
      return kSkipped;
    }
  }
  const milliseconds duration = ParseMs("--duration", options.duration);
  const std::string ttl_text = !options.ttl.empty()              ? options.ttl
                               : *store_kind == StoreKind::kEtcd ? "2s"
                                                                 : "1s";
  const milliseconds ttl = ParseMs("--ttl", ttl_text);
  if (options.instances < 2 || options.instances > 50) Usage("--instances must be 2 to 50");
  const std::vector<FaultKind> kinds = ChooseKinds(options, *store_kind);
  const uint64_t seed = options.seed ? *options.seed : std::random_device()();
  const std::string dir = MakeRecordDir(options.record_dir);

  std::cout << "baton-chaos: store=" << options.store << " seed=" << seed
            << " duration=" << options.duration << " instances=" << options.instances
            << " ttl=" << ttl_text << " record=" << dir << std::endl;
  std::ofstream(dir + "/run.log") << "run store=" << options.store << " seed=" << seed
                                  << " instances=" << options.instances << " ttl_ms=" << ttl.count()
                                  << " mono_ns=" << test_support::MonoNowNs() << "\n";

  std::vector<std::string> ids;
  for (int i = 1; i <= options.instances; ++i) ids.push_back("i" + std::to_string(i));
  StoreRig store(*store_kind, dir, ids);
  // After the store: a PostgreSQL server started by pg_ctl must not become our child.
  test_support::BecomeSubreaper();
  if (store.networked()) {
    const test_support::CommandResult migrated =
        test_support::RunCommand({options.baton_bin, "migrate", "--store", store.direct_url()});
    if (!migrated.Exited(0)) Usage("baton migrate failed: " + migrated.Describe());
  }

  Group group({.baton_bin = options.baton_bin,
               .probe_bin = options.probe_bin,
               .record_dir = dir,
               .instances = options.instances,
               .ttl = ttl,
               .unsafe_ignore_deadline = options.unsafe_ignore_deadline},
              store);
  FaultInjector injector(group, store, ttl, dir + "/faults.log");
  FaultSchedule schedule(kinds, options.min_each);
  std::mt19937_64 rng(seed);

  group.StartAll();
  if (!WaitForActive(group, injector, 10 * ttl)) {
    std::cerr << "baton-chaos: no instance became active within " << 10 * ttl.count()
              << " ms; see the logs in " << dir << "\n";
    group.StopAll(milliseconds(5000));
    test_support::KillDescendants();
    return 2;
  }

  const auto end = std::chrono::steady_clock::now() + duration;
  int skipped = 0;
  while (std::chrono::steady_clock::now() < end && !interrupted) {
    const FaultKind kind = schedule.Next(rng);
    if (injector.Inject(kind, rng)) {
      schedule.Count(kind);
      injector.Sleep(std::chrono::duration_cast<milliseconds>(
          ttl * std::uniform_real_distribution<double>(0.5, 1.5)(rng)));
    } else {
      ++skipped;  // Nothing to aim at now (no active instance yet, say): try again soon.
      injector.Sleep(milliseconds(50));
    }
  }

  // Let the group settle, so the record ends with the recovery from the last fault.
  store.HealAll();
  injector.Sleep(2 * ttl);
  std::ofstream(dir + "/run.log", std::ios::app)
      << "end mono_ns=" << test_support::MonoNowNs() << "\n";
  group.StopAll(milliseconds(5000));
  test_support::KillDescendants();

  const CheckResult result = CheckRecord(dir);
  PrintReport(result, std::cout);
  if (options.intervals) PrintIntervals(result, std::cout);
  bool passed = result.passed();
  const std::vector<std::string> shortfall = schedule.Shortfall();
  if (!shortfall.empty()) {
    std::cout << "baton-chaos: fewer than " << options.min_each << " of each fault kind for:";
    for (const std::string& name : shortfall) std::cout << " " << name;
    std::cout << " (run longer)\n";
    passed = false;
  }
  if (!group.unexpected_exits().empty()) {
    std::cout << "baton-chaos: instances that ended without a fault:";
    for (const std::string& exit : group.unexpected_exits()) std::cout << " " << exit;
    std::cout << "\n";
    passed = false;
  }
  if (interrupted) std::cout << "baton-chaos: interrupted; the record above is partial\n";
  if (passed && options.record_dir.empty()) {
    std::filesystem::remove_all(dir);
  } else {
    std::cout << "baton-chaos: the record is in " << dir << "\n";
  }
  std::string totals = TotalsLine(result);
  // The record was safe, but the run itself fell short (above): the verdict says so too.
  if (result.passed() && !passed) totals.replace(totals.rfind(": PASS"), 6, ": FAIL");
  std::cout << totals << std::endl;  // Last, for scripts that read one line.
  return passed ? 0 : 1;
}

}  // namespace
}  // namespace baton::chaos

int main(int argc, char** argv) {
  using baton::chaos::Options;
  Options options;
  CLI::App app{"Runs baton instances, injects faults at random, and checks the record"};
  app.add_option("--mode", options.mode,
                 "lease (default: baton run instances) or queue (baton work workers)");
  app.add_option("--store", options.store, "sqlite (default), postgresql or etcd");
  app.add_option("--duration", options.duration, "How long to inject faults (default 60s)");
  app.add_option("--seed", options.seed, "The seed of the fault schedule (default: random)");
  app.add_option("--instances", options.instances, "How many `baton run` instances (default 5)");
  app.add_option("--ttl", options.ttl, "The instances' --ttl (default 1s; on etcd 2s)");
  app.add_option("--min-each", options.min_each,
                 "Inject each kind at least this often (default 1)");
  app.add_option("--faults", options.faults, "Only these kinds (comma-separated)")->delimiter(',');
  app.add_option("--record", options.record_dir,
                 "Keep the record in this new directory (default: a temporary one, kept only "
                 "when the check fails)");
  app.add_flag("--intervals", options.intervals,
               "List every active interval and the failover gap before it");
  app.add_option("--baton", options.baton_bin, "The baton program (default: the one built here)");
  app.add_option("--probe", options.probe_bin, "The probe child (default: the one built here)");
  app.add_flag("--unsafe-ignore-deadline", options.unsafe_ignore_deadline,
               "Test only: the guardians ignore the deadline, so the checker must find overlaps");
  app.add_option("--workers", options.workers, "Queue mode: how many `baton work` (default 3)");
  app.add_option("--concurrency", options.concurrency,
                 "Queue mode: the workers' --concurrency (default 4)");
  app.add_option("--visibility", options.visibility,
                 "Queue mode: the workers' --visibility (default 1500ms)");
  app.add_option("--tenants", options.tenants, "Queue mode: how many tenants (default 8)");
  app.add_option("--item-sleep", options.item_sleep,
                 "Queue mode: each item's work sleeps MIN-MAX ms (default 5-80, and one batch in "
                 "eight 0.3-2.5 s)");
  app.add_option("--drain-timeout", options.drain_timeout,
                 "Queue mode: how long the workers may take to empty the queue (default 60s)");
  app.add_option("--item-command", options.item_bin,
                 "Queue mode: baton-chaos-item (default: the one built here)");
  app.add_option("--item-probe", options.item_probe_bin,
                 "Queue mode: baton-item-probe (default: the one built here)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  struct sigaction action {};
  action.sa_handler = [](int) { baton::chaos::interrupted = true; };
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  try {
    return baton::chaos::Run(options);
  } catch (const std::exception& e) {
    std::cerr << "baton-chaos: " << e.what() << "\n";
    baton::test_support::KillDescendants();
    return 2;
  }
}
