#include "queue_timing.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <thread>

#include "baton/worker.h"
#include "harness.h"
#include "report.h"
#include "start_log.h"

extern char** environ;

namespace baton::bench {
namespace {

using std::chrono::milliseconds;

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

// CLOCK_BOOTTIME in ns: the clock the Workers keep their claims' deadlines on.
int64_t BootNs() { return BootClock::now().time_since_epoch().count(); }

nlohmann::json Summary(const std::vector<double>& ms) {
  return {{"samples", ms.size()},
          {"p50_ms", Percentile(ms, 50)},
          {"p99_ms", Percentile(ms, 99)},
          {"max_ms", Percentile(ms, 100)}};
}

// Waits until `done()` or `timeout_ms` passed; whether done() held.
template <typename Done>
bool AwaitTrue(Done done, int64_t timeout_ms) {
  const int64_t until = MonoNs() + timeout_ms * 1'000'000;
  while (!done()) {
    if (MonoNs() > until || Interrupted()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// A Worker on its own thread.
class RunningWorker final {
 public:
  RunningWorker(Queue& queue, WorkerOptions options, ItemWork work)
      : worker_(queue, std::move(options), std::move(work)),
        thread_([this] { result_ = worker_.Run(); }) {}
  ~RunningWorker() { Stop(); }
  // Stops and joins; the Run() error, if any.
  std::optional<std::string> Stop() {
    if (thread_.joinable()) {
      worker_.RequestStop();
      thread_.join();
    }
    if (!result_) return result_.error().message();
    return std::nullopt;
  }
  WorkerCounters counters() const { return worker_.counters(); }

 private:
  Worker worker_;
  Result<void> result_;
  std::thread thread_;
};

}  // namespace

nlohmann::json LatencyResult::ToJson() const {
  nlohmann::json j = {{"kind", "latency"},
                      {"store", store},
                      {"planned", planned},
                      {"ok", problems.empty()},
                      {"problems", problems}};
  j.update(Summary(ms));
  return j;
}

nlohmann::json StuckResult::ToJson() const {
  nlohmann::json j = {
      {"kind", "stuck"},    {"store", store},         {"visibility_ms", visibility.count()},
      {"planned", planned}, {"ok", problems.empty()}, {"problems", problems}};
  j.update(Summary(after_kill_ms));
  j["after_claim"] = Summary(after_claim_ms);
  j["rescuer"] = late_rescuer ? "started after the claim" : "idle before the offer";
  return j;
}

LatencyResult MeasureOfferLatency(const QueueTarget& target, int samples, milliseconds spacing) {
  LatencyResult out;
  out.store = target.kind;
  out.planned = samples;
  const QueueKey key{"queue-bench", "latency-" + std::to_string(getpid())};
  std::unique_ptr<Queue> offerer = OpenQueueOrExit(target);
  std::unique_ptr<Queue> worker_queue = OpenQueueOrExit(target);
  auto started = std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(samples));
  for (int i = 0; i < samples; ++i) started[i] = 0;
  WorkerOptions options;
  options.queue = key;
  options.worker_id = "bench-latency";
  options.concurrency = 1;
  RunningWorker worker(*worker_queue, options, [&started, samples](ItemContext& item) {
    const int64_t now = MonoNs();
    const int i = std::atoi(item.item().payload.c_str());
    if (i >= 0 && i < samples) started[i] = now;
    return WorkResult::Done();
  });
  // Let the worker make its first claim on the empty queue and settle into its wait.
  std::this_thread::sleep_for(milliseconds(500));
  for (int i = 0; i < samples && !Interrupted(); ++i) {
    OfferRequest request;
    request.queue = key;
    OfferItem item;
    item.tenant = "latency-" + std::to_string(i);
    item.payload = std::to_string(i);
    request.items.push_back(std::move(item));
    const int64_t offered_at = MonoNs();
    Result<OfferReply> reply = offerer->Offer(request);
    if (!reply) {
      out.problems.push_back("offer " + std::to_string(i) + ": " + reply.error().message());
      break;
    }
    // Wait for the callback and the acknowledgement, so the next offer finds the worker idle.
    const bool ran = AwaitTrue([&] { return started[i] != 0; }, 5'000);
    const bool acked =
        ran &&
        AwaitTrue([&] { return worker.counters().done >= static_cast<uint64_t>(i + 1); }, 5'000);
    if (!ran || !acked) {
      out.problems.push_back("item " + std::to_string(i) +
                             (ran ? " was not acknowledged" : " was not claimed") +
                             " within 5 s of its offer");
      break;
    }
    out.ms.push_back(Ms(started[i] - offered_at));
    const int64_t next = offered_at + std::chrono::nanoseconds(spacing).count();
    while (MonoNs() < next) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (std::optional<std::string> error = worker.Stop()) out.problems.push_back(*error);
  for (std::string& p : CheckDrained(*offerer, key, static_cast<int64_t>(out.ms.size()))) {
    out.problems.push_back(p);
  }
  return out;
}

namespace {

// The helper child and the pipe its one line comes back on.
struct Helper {
  pid_t pid = -1;
  int out_fd = -1;
};

Helper StartHelper(const std::string& helper, const QueueTarget& target, const QueueKey& key,
                   milliseconds visibility) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  const std::vector<std::string> argv = {helper,
                                         "--store-kind",
                                         target.kind,
                                         "--url",
                                         target.kind == "sqlite" ? target.path : target.url,
                                         "--group",
                                         key.group,
                                         "--queue",
                                         key.queue,
                                         "--visibility-ms",
                                         std::to_string(visibility.count())};
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return {};
  }
  return {pid, fds[0]};
}

// The helper's line "claimed ID SENT_NS" (CLOCK_BOOTTIME), waiting at most `timeout_ms`.
std::optional<std::pair<uint64_t, int64_t>> ReadClaimLine(int fd, int timeout_ms) {
  std::string line;
  const int64_t until = MonoNs() + int64_t{timeout_ms} * 1'000'000;
  while (line.find('\n') == std::string::npos) {
    const int64_t left_ms = (until - MonoNs()) / 1'000'000;
    if (left_ms <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    line.append(buf, static_cast<size_t>(n));
  }
  unsigned long long id = 0;
  long long mono = 0;
  if (std::sscanf(line.c_str(), "claimed %llu %lld", &id, &mono) != 2) return std::nullopt;
  return std::pair<uint64_t, int64_t>{id, mono};
}

}  // namespace

StuckResult MeasureStuckReclaim(const QueueTarget& target, const std::string& helper,
                                milliseconds visibility, int trials, bool late_rescuer) {
  StuckResult out;
  out.store = target.kind;
  out.visibility = visibility;
  out.planned = trials;
  out.late_rescuer = late_rescuer;
  std::unique_ptr<Queue> offerer = OpenQueueOrExit(target);
  std::unique_ptr<Queue> worker_queue = OpenQueueOrExit(target);
  const int64_t visibility_ns = std::chrono::nanoseconds(visibility).count();
  WorkerOptions options;
  options.worker_id = "bench-rescuer";
  options.concurrency = 1;
  options.timing.visibility = visibility;
  // A trial the rescuer wins (it claims the item first) is run again, up to this many times.
  int replays_left = 3 * trials;
  for (int trial = 1, round = 1; trial <= trials && !Interrupted(); ++round) {
    const std::string what = "trial " + std::to_string(trial) + ": ";
    const QueueKey key{"queue-bench",
                       "stuck-" + std::to_string(getpid()) + "-" + std::to_string(round)};
    options.queue = key;
    std::atomic<int64_t> reclaimed_at{0};
    std::atomic<int> attempt{0};
    std::atomic<bool> rescuer_first{false};
    const ItemWork rescue = [&](ItemContext& item) {
      if (item.item().attempt == 1) {
        rescuer_first = true;
      } else {
        reclaimed_at = BootNs();
        attempt = item.item().attempt;
      }
      return WorkResult::Done();
    };
    // Idle rescuer: already up and idle when the item is offered, as the other workers of a
    // deployment are; it races the helper for the item, and a trial it wins is replayed.
    std::unique_ptr<RunningWorker> rescuer;
    if (!late_rescuer) rescuer = std::make_unique<RunningWorker>(*worker_queue, options, rescue);
    Helper child = StartHelper(helper, target, key, visibility);
    if (child.pid < 0) {
      out.problems.push_back(what + "cannot start " + helper);
      break;
    }
    if (!late_rescuer) std::this_thread::sleep_for(milliseconds(300));  // Both idle now.
    Result<std::vector<uint64_t>> ids = OfferItems(*offerer, key, 0, 1, 1);
    if (!ids) {
      kill(child.pid, SIGKILL);
      waitpid(child.pid, nullptr, 0);
      out.problems.push_back(what + "offer: " + ids.error().message());
      break;
    }
    std::optional<std::pair<uint64_t, int64_t>> claimed;
    for (int waited = 0; waited < 10'000 && !claimed && !rescuer_first; waited += 20) {
      claimed = ReadClaimLine(child.out_fd, 20);
    }
    const int64_t killed_at = BootNs();
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    close(child.out_fd);
    if (rescuer_first) {
      rescuer->Stop();
      if (--replays_left < 0) {
        out.problems.push_back(what + "the rescuer kept claiming the item before the helper");
        break;
      }
      continue;
    }
    if (!claimed || claimed->first != ids->front()) {
      out.problems.push_back(what + "the helper did not report claiming the item within 10 s");
      break;
    }
    // Late rescuer: started only now, so on PostgreSQL its own watch of the claim starts
    // after the claim (SPEC 3.3), as for a worker that joins late.
    if (late_rescuer) rescuer = std::make_unique<RunningWorker>(*worker_queue, options, rescue);
    const bool taken =
        AwaitTrue([&] { return reclaimed_at != 0; }, visibility_ns / 1'000'000 + 10'000);
    AwaitTrue([&] { return rescuer->counters().done >= 1; }, 5'000);
    if (std::optional<std::string> error = rescuer->Stop()) out.problems.push_back(what + *error);
    ++trial;
    if (!taken) {
      out.problems.push_back(what + "the item was not claimed again within visibility + 10 s");
      continue;
    }
    if (attempt != 2) {
      out.problems.push_back(what + "the re-claim was attempt " + std::to_string(attempt.load()) +
                             ", expected 2");
    }
    out.after_kill_ms.push_back(Ms(reclaimed_at - killed_at - visibility_ns));
    out.after_claim_ms.push_back(Ms(reclaimed_at - claimed->second - visibility_ns));
    if (out.after_claim_ms.back() < 0) {
      out.problems.push_back(what + "the item was claimed again " +
                             std::to_string(-out.after_claim_ms.back()) +
                             " ms before its visibility had passed since the stuck claim was sent");
    }
    for (std::string& p : CheckDrained(*offerer, key, 1)) {
      // The killed attempt counts as failed once its claim expired; nothing else may differ.
      if (p.find("failed_total") == std::string::npos) out.problems.push_back(what + p);
    }
  }
  return out;
}

}  // namespace baton::bench
