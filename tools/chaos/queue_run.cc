#include "queue_run.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "checker.h"
#include "enqueuer.h"
#include "queue_faults.h"
#include "store_rig.h"
#include "support/process.h"
#include "support/wait.h"
#include "workers.h"

namespace baton::chaos {
namespace {

using std::chrono::milliseconds;

// `baton queue ... ACTION --json`, straight to the store; nullopt when it failed.
std::optional<std::string> QueueJson(const QueueChaosOptions& options, const StoreRig& store,
                                     const std::string& action) {
  const test_support::CommandResult result = test_support::RunCommand(
      {options.baton_bin, "queue", "--store", store.direct_url(), "--group", Workers::kGroup,
       "--queue", Workers::kQueue, action, "--json", "--limit", "1000000"},
      std::chrono::seconds(30));
  if (!result.Exited(0)) {
    std::cerr << "baton-chaos: baton queue " << action << " failed: " << result.Describe() << "\n";
    return std::nullopt;
  }
  return result.out;
}

// Items pending, waiting or running; nullopt when the store could not say.
std::optional<int64_t> Depth(const QueueChaosOptions& options, const StoreRig& store) {
  const std::optional<std::string> stats = QueueJson(options, store, "stats");
  if (!stats) return std::nullopt;
  try {
    const nlohmann::json depth = nlohmann::json::parse(*stats).at("depth");
    return depth.at("pending").get<int64_t>() + depth.at("waiting").get<int64_t>() +
           depth.at("running").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// Waits until the queue holds nothing to work on (the workers restarted, the faults over);
// false after `timeout`.
bool Drain(const QueueChaosOptions& options, const StoreRig& store, Workers& workers,
           QueueFaultInjector& injector) {
  const auto until = std::chrono::steady_clock::now() + options.drain_timeout;
  while (std::chrono::steady_clock::now() < until) {
    injector.Sleep(milliseconds(500));
    if (workers.RestartsPending()) continue;
    const std::optional<int64_t> depth = Depth(options, store);
    if (depth && *depth == 0) return true;
  }
  return false;
}

// The store's state after the workers stopped, in final-*.json; false when a command failed.
bool SaveFinalState(const QueueChaosOptions& options, const StoreRig& store) {
  for (const std::string action : {"list", "dead", "stats"}) {
    const std::optional<std::string> json = QueueJson(options, store, action);
    if (!json) return false;
    std::ofstream(options.dir + "/final-" + action + ".json") << *json;
  }
  return true;
}

// Not a safety check, a health sign: a worker whose extensions were refused should stop
// extending that claim, so hundreds of refusals of one item's claim mean a busy loop.
void ReportRefusedExtensions(const QueueChaosOptions& options) {
  int total = 0;
  int most = 0;
  std::string where;
  for (int i = 1; i <= options.workers; ++i) {
    const std::string log = "w" + std::to_string(i) + ".log";
    std::ifstream in(options.dir + "/" + log);
    std::map<std::string, int> by_item;
    for (std::string line; std::getline(in, line);) {
      if (line.find("extension refused") == std::string::npos) continue;
      ++total;
      const size_t at = line.find("item ");
      const std::string item =
          at == std::string::npos ? "?" : line.substr(at, line.find(' ', at + 5) - at);
      if (++by_item[item] > most) {
        most = by_item[item];
        where = item + " in " + log;
      }
    }
  }
  if (total == 0) return;
  std::cout << "baton-chaos: the workers logged " << total << " refused extensions, " << most
            << " for one item at most (" << where << ")\n";
}

}  // namespace

int RunQueueChaos(const QueueChaosOptions& options) {
  const std::string& dir = options.dir;
  std::cout << "baton-chaos: mode=queue store=" << options.store << " seed=" << options.seed
            << " duration=" << options.duration.count() << "ms workers=" << options.workers
            << " concurrency=" << options.concurrency
            << " visibility=" << options.visibility.count() << "ms tenants=" << options.tenants
            << " record=" << dir << std::endl;
  std::ofstream(dir + "/run.log") << "run mode=queue store=" << options.store
                                  << " seed=" << options.seed << " instances=" << options.workers
                                  << " ttl_ms=" << options.visibility.count()
                                  << " mono_ns=" << test_support::MonoNowNs() << "\n";

  std::vector<std::string> ids;
  for (int i = 1; i <= options.workers; ++i) ids.push_back("w" + std::to_string(i));
  StoreRig store(*ParseStoreKind(options.store), dir, ids);
  // After the store: a PostgreSQL server started by pg_ctl must not become our child.
  test_support::BecomeSubreaper();
  // On SQLite too: the workers and the enqueuer then open a file in WAL mode with its schema.
  // Their first opens of a new file at once once made a worker exit (SQLITE_BUSY switching to
  // WAL; seed 2), a start-up race that is not what this run is about.
  {
    const test_support::CommandResult migrated =
        test_support::RunCommand({options.baton_bin, "migrate", "--store", store.direct_url()});
    if (!migrated.Exited(0)) {
      std::cerr << "baton-chaos: baton migrate failed: " << migrated.Describe() << "\n";
      return 2;
    }
  }

  Workers workers({.baton_bin = options.baton_bin,
                   .item_bin = options.item_bin,
                   .probe_bin = options.probe_bin,
                   .record_dir = dir,
                   .workers = options.workers,
                   .concurrency = options.concurrency,
                   .visibility = options.visibility,
                   .unsafe_ignore_deadline = options.unsafe_ignore_deadline},
                  store);
  QueueFaultInjector injector(workers, store, options.visibility, dir);
  FaultSchedule schedule(options.kinds, options.min_each);
  std::mt19937_64 rng(options.seed);
  Enqueuer enqueuer({.baton_bin = options.baton_bin,
                     .store_url = store.direct_url(),
                     .record_dir = dir,
                     .seed = options.seed,
                     .tenants = options.tenants,
                     .sleep_min_ms = options.item_sleep_min_ms,
                     .sleep_max_ms = options.item_sleep_max_ms,
                     .slow_min_ms = options.slow_items ? 300 : 0,
                     .slow_max_ms = options.slow_items ? 2500 : 0});

  workers.StartAll();
  enqueuer.Start();
  injector.Sleep(options.visibility);  // Let items flow before the first fault.

  const auto end = std::chrono::steady_clock::now() + options.duration;
  while (std::chrono::steady_clock::now() < end && !*options.interrupted) {
    const FaultKind kind = schedule.Next(rng);
    if (injector.Inject(kind, rng)) {
      schedule.Count(kind);
      injector.Sleep(std::chrono::duration_cast<milliseconds>(
          options.visibility * std::uniform_real_distribution<double>(0.3, 1.0)(rng)));
    } else {
      injector.Sleep(milliseconds(50));  // Nothing to aim at now (no item running, say).
    }
  }

  // No more items or faults; the workers drain the queue, then stop on SIGTERM.
  enqueuer.Stop();
  store.HealAll();
  const bool drained = !*options.interrupted && Drain(options, store, workers, injector);
  workers.StopAll(milliseconds(10000));
  const bool saved = SaveFinalState(options, store);
  std::ofstream(dir + "/run.log", std::ios::app)
      << "end mono_ns=" << test_support::MonoNowNs() << "\n";
  test_support::KillDescendants();

  const CheckResult result = CheckRecord(dir);
  PrintReport(result, std::cout);
  if (options.intervals) PrintIntervals(result, std::cout);
  ReportRefusedExtensions(options);
  bool passed = result.passed();
  if (!drained) {
    std::cout << "baton-chaos: the queue was not drained within " << options.drain_timeout.count()
              << " ms after the faults\n";
    passed = false;
  }
  if (!saved) {
    std::cout << "baton-chaos: the store's final state could not be read\n";
    passed = false;
  }
  const std::vector<std::string> shortfall = schedule.Shortfall();
  if (!shortfall.empty()) {
    std::cout << "baton-chaos: fewer than " << options.min_each << " of each fault kind for:";
    for (const std::string& name : shortfall) std::cout << " " << name;
    std::cout << " (run longer)\n";
    passed = false;
  }
  if (!workers.unexpected_exits().empty()) {
    std::cout << "baton-chaos: workers that ended without a fault:";
    for (const std::string& exit : workers.unexpected_exits()) std::cout << " " << exit;
    std::cout << "\n";
    passed = false;
  }
  if (*options.interrupted) std::cout << "baton-chaos: interrupted; the record above is partial\n";
  if (passed && !options.keep_record) {
    std::filesystem::remove_all(dir);
  } else {
    std::cout << "baton-chaos: the record is in " << dir << "\n";
  }
  std::string totals = TotalsLine(result);
  if (result.passed() && !passed) totals.replace(totals.rfind(": PASS"), 6, ": FAIL");
  std::cout << totals << std::endl;  // Last, for scripts that read one line.
  return passed ? 0 : 1;
}

}  // namespace baton::chaos
