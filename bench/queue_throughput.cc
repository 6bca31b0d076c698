#include "queue_throughput.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "baton/worker.h"
#include "harness.h"
#include "pg_session.h"
#include "start_log.h"

extern char** environ;

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A configuration without progress for this long is reported as hung.
constexpr int64_t kStallNs = 30'000'000'000;

std::string QueueName(const ThroughputConfig& c, const char* prefix) {
  return std::string(prefix) + "-" + c.mode + "-t" + std::to_string(c.tenants) + "-s" +
         std::to_string(c.slots) + "-w" + std::to_string(c.workers) + "-r" + std::to_string(c.run) +
         "-" + std::to_string(getpid());
}

struct WorkerRun {
  std::unique_ptr<Queue> queue;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  Result<void> result;
  std::atomic<bool> returned{false};
};

void MeasureCallback(const QueueTarget& target, const QueueKey& key,
                     const std::vector<uint64_t>& ids, ThroughputResult& out) {
  const ThroughputConfig& c = out.config;
  ItemAccount account(ids);
  std::vector<std::unique_ptr<WorkerRun>> runs;
  for (int w = 0; w < c.workers; ++w) {
    auto run = std::make_unique<WorkerRun>();
    run->queue = OpenQueueOrExit(target);
    WorkerOptions options;
    options.queue = key;
    options.worker_id = "bench-" + std::to_string(w + 1);
    options.concurrency = c.slots;
    run->worker = std::make_unique<Worker>(*run->queue, options, [&account](ItemContext& item) {
      account.Count(item.item().id);
      return WorkResult::Done();
    });
    runs.push_back(std::move(run));
  }
  const auto done = [&runs] {
    uint64_t n = 0;
    for (const auto& run : runs) n += run->worker->counters().done;
    return static_cast<int64_t>(n);
  };

  const int64_t start = MonoNs();
  for (auto& run : runs) {
    WorkerRun* r = run.get();
    r->thread = std::thread([r] {
      r->result = r->worker->Run();
      r->returned = true;
    });
  }
  int64_t last_progress = start;
  int64_t last_done = 0;
  int64_t end = 0;
  while (true) {
    std::this_thread::sleep_for(milliseconds(1));
    const int64_t now = MonoNs();
    const int64_t n = done();
    if (n >= c.items) {
      end = now;
      break;
    }
    if (n != last_done) {
      last_done = n;
      last_progress = now;
    }
    bool any_returned = false;
    for (const auto& run : runs) any_returned = any_returned || run->returned;
    if (any_returned) {
      out.problems.push_back("a Worker's Run() returned before it was asked to stop, after " +
                             std::to_string(n) + " of " + std::to_string(c.items) + " items");
      break;
    }
    if (now - last_progress > kStallNs || Interrupted()) {
      out.problems.push_back(std::string(Interrupted() ? "interrupted" : "no progress for 30 s") +
                             " at " + std::to_string(n) + " of " + std::to_string(c.items) +
                             " items acknowledged (callback ran " +
                             std::to_string(account.calls()) + " times)");
      break;
    }
  }
  for (auto& run : runs) run->worker->RequestStop();
  WorkerCounters total;
  for (auto& run : runs) {
    run->thread.join();
    if (!run->result) out.problems.push_back("Worker::Run: " + run->result.error().message());
    const WorkerCounters k = run->worker->counters();
    total.claimed += k.claimed;
    total.done += k.done;
    total.failed += k.failed;
    total.stale += k.stale;
    total.released += k.released;
    total.store_errors += k.store_errors;
  }
  if (end != 0) {
    out.seconds = static_cast<double>(end - start) / 1e9;
    out.items_per_s = static_cast<double>(c.items) / out.seconds;
  }
  for (std::string& p : account.Check()) out.problems.push_back(std::move(p));
  const auto expect = [&out](const char* what, uint64_t got, uint64_t want) {
    if (got != want) {
      out.problems.push_back(std::string("Worker counters: ") + what + " " + std::to_string(got) +
                             ", expected " + std::to_string(want));
    }
  };
  expect("claimed", total.claimed, static_cast<uint64_t>(c.items));
  expect("done", total.done, static_cast<uint64_t>(c.items));
  expect("failed", total.failed, 0);
  expect("stale", total.stale, 0);
  expect("released", total.released, 0);
  if (total.store_errors > 0) {
    std::fprintf(stderr, "bench: %llu store errors were retried\n",
                 static_cast<unsigned long long>(total.store_errors));
  }
}

// Runs argv with stdout and stderr to `log`; the pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Waits up to `timeout_ms` for `pid`; its wait status, or nullopt.
std::optional<int> WaitFor(pid_t pid, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return std::nullopt;
}

void MeasureCommand(const QueueTarget& target, const QueueKey& key, Queue& observer,
                    ThroughputResult& out) {
  const ThroughputConfig& c = out.config;
  const std::string log = c.scratch + "/" + key.queue + ".log";
  const std::vector<std::string> argv = {
      c.baton,   "work",    "--store",       target.StoreUrl(),       "--group", key.group,
      "--queue", key.queue, "--concurrency", std::to_string(c.slots), "--",      "true"};
  const int64_t start = MonoNs();
  const pid_t pid = Spawn(argv, log);
  if (pid < 0) {
    out.problems.push_back("cannot start " + c.baton + " work");
    return;
  }
  int64_t last_progress = start;
  int64_t last_done = 0;
  int64_t end = 0;
  while (true) {
    // Stats is heavier than the worker's counters; 20 ms steps still leave the error small.
    std::this_thread::sleep_for(milliseconds(20));
    const int64_t now = MonoNs();
    Result<QueueStats> stats = observer.Stats(key);
    const int64_t n = stats ? stats->done_total : last_done;
    if (n >= c.items) {
      end = now;
      break;
    }
    if (n != last_done) {
      last_done = n;
      last_progress = now;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      out.problems.push_back("baton work exited (status " + std::to_string(status) + ") after " +
                             std::to_string(n) + " of " + std::to_string(c.items) + " items; see " +
                             log);
      return;
    }
    if (now - last_progress > kStallNs || Interrupted()) {
      out.problems.push_back("no progress for 30 s at " + std::to_string(n) + " of " +
                             std::to_string(c.items) + " items; see " + log);
      break;
    }
  }
  kill(pid, SIGTERM);
  std::optional<int> status = WaitFor(pid, 10'000);
  if (!status) {
    kill(pid, SIGKILL);
    status = WaitFor(pid, 5'000);
    out.problems.push_back("baton work did not exit within 10 s of SIGTERM; see " + log);
  } else if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    out.problems.push_back("baton work ended with status " + std::to_string(*status) +
                           " on SIGTERM (expected exit 0); see " + log);
  }
  if (end != 0) {
    out.seconds = static_cast<double>(end - start) / 1e9;
    out.items_per_s = static_cast<double>(c.items) / out.seconds;
  }
}

}  // namespace

nlohmann::json ThroughputResult::ToJson() const {
  return {{"kind", "throughput"},
          {"store", store},
          {"mode", config.mode + (config.analyze ? "+analyze" : "")},
          {"items", config.items},
          {"tenants", config.tenants},
          {"slots", config.slots},
          {"workers", config.workers},
          {"run", config.run},
          {"seconds", seconds},
          {"items_per_s", items_per_s},
          {"ok", problems.empty() && skipped.empty()},
          {"problems", problems},
          {"skipped", skipped}};
}

bool HasWorkCommand(const std::string& baton) {
  const pid_t pid = Spawn({baton, "work", "--help"}, "/dev/null");
  if (pid < 0) return false;
  const std::optional<int> status = WaitFor(pid, 10'000);
  if (!status) {
    kill(pid, SIGKILL);
    WaitFor(pid, 1'000);
    return false;
  }
  return WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

ThroughputResult MeasureThroughput(const QueueTarget& target, const ThroughputConfig& config) {
  ThroughputResult out;
  out.config = config;
  out.store = target.kind;
  if (config.mode == "command" && !HasWorkCommand(config.baton)) {
    out.skipped = config.baton + " has no `work` subcommand yet";
    return out;
  }
  const QueueKey key{"queue-bench", QueueName(config, "tp")};
  std::unique_ptr<Queue> offerer = OpenQueueOrExit(target);
  Result<std::vector<uint64_t>> ids = OfferItems(*offerer, key, 0, config.items, config.tenants);
  if (!ids) {
    out.problems.push_back("offering failed: " + ids.error().message());
    return out;
  }
  if (config.analyze && target.kind == "postgresql") {
    std::string error;
    std::optional<PgSession> session = PgSession::Connect(target.url, error);
    if (!session || !session->Query("ANALYZE baton.queue_items, baton.queue_tenants", {}, error)) {
      out.problems.push_back("ANALYZE failed: " + error);
      return out;
    }
  }
  if (config.mode == "command") {
    MeasureCommand(target, key, *offerer, out);
  } else {
    MeasureCallback(target, key, *ids, out);
  }
  for (std::string& p : CheckDrained(*offerer, key, config.items)) out.problems.push_back(p);
  return out;
}

}  // namespace baton::bench
