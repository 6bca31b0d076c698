#include "queue_faults.h"

#include <signal.h>

#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "fault_proxy.h"
#include "store_rig.h"
#include "support/process.h"
#include "support/wait.h"
#include "workers.h"

namespace baton::chaos {
namespace {

using std::chrono::milliseconds;

template <typename T>
const T& Pick(const std::vector<T>& items, std::mt19937_64& rng) {
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(rng)];
}

// The worker running `item`'s command: the command's parent is its guardian, whose parent
// is `baton work` (until that dies and the guardian is orphaned).
std::optional<pid_t> WorkerPidOf(const RunningItem& item) {
  const auto command = test_support::ReadProcessInfo(item.pid);
  if (!command) return std::nullopt;
  const auto guardian = test_support::ReadProcessInfo(command->ppid);
  if (!guardian) return std::nullopt;
  return guardian->ppid;
}

}  // namespace

QueueFaultInjector::QueueFaultInjector(Workers& workers, StoreRig& store, milliseconds visibility,
                                       const std::string& record_dir)
    : workers_(workers),
      store_(store),
      visibility_(visibility),
      items_(record_dir + "/items.log"),
      log_(record_dir + "/faults.log", std::ios::app) {
  if (!log_) throw std::runtime_error("cannot write " + record_dir + "/faults.log");
}

void QueueFaultInjector::Record(FaultKind kind, const std::string& target,
                                const std::string& details) {
  log_ << "fault kind=" << Name(kind) << " target=" << target
       << " mono_ns=" << test_support::MonoNowNs() << (details.empty() ? "" : " ") << details
       << std::endl;
}

milliseconds QueueFaultInjector::VisibilityTimes(std::mt19937_64& rng, double low,
                                                 double high) const {
  const double factor = std::uniform_real_distribution<double>(low, high)(rng);
  return milliseconds(static_cast<int64_t>(factor * static_cast<double>(visibility_.count())));
}

void QueueFaultInjector::Sleep(milliseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    workers_.RestartDue();
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until - now, milliseconds(20)));
  }
}

std::optional<std::string> QueueFaultInjector::PickWorker(std::mt19937_64& rng, bool busy_only) {
  const std::vector<std::string> live = workers_.Live();
  if (live.empty()) return std::nullopt;
  std::set<std::string> busy_set;
  for (const RunningItem& item : items_.Running()) {
    const std::optional<pid_t> pid = WorkerPidOf(item);
    if (!pid) continue;
    const std::optional<std::string> id = workers_.IdOf(*pid);
    if (id && std::find(live.begin(), live.end(), *id) != live.end()) busy_set.insert(*id);
  }
  const std::vector<std::string> busy(busy_set.begin(), busy_set.end());
  if (!busy.empty()) return Pick(busy, rng);
  if (busy_only) return std::nullopt;
  return Pick(live, rng);
}

bool QueueFaultInjector::Inject(FaultKind kind, std::mt19937_64& rng) {
  switch (kind) {
    case FaultKind::kKillWorker:
    case FaultKind::kTermWorker: {
      const std::optional<std::string> id = PickWorker(rng, false);
      if (!id) return false;
      workers_.Signal(*id, kind == FaultKind::kKillWorker ? SIGKILL : SIGTERM);
      const milliseconds restart = VisibilityTimes(rng, 0.1, 1.5);
      Record(kind, *id, "restart_after_ms=" + std::to_string(restart.count()));
      workers_.ScheduleRestart(*id, restart);
      return true;
    }
    case FaultKind::kStopWorker: {
      // Only a pause of a worker with a claim running tests the claim's deadline.
      const std::optional<std::string> id = PickWorker(rng, true);
      if (!id) return false;
      const milliseconds pause = VisibilityTimes(rng, 1.1, 2.0);
      workers_.Pause(*id);
      Record(kind, *id, "pause_ms=" + std::to_string(pause.count()));
      Sleep(pause);
      workers_.Resume(*id);
      return true;
    }
    case FaultKind::kKillItem: {
      const std::vector<RunningItem> running = items_.Running();
      if (running.empty()) return false;
      const RunningItem& item = Pick(running, rng);
      // The pid must still be the probe's (not reused since it logged its start).
      const auto info = test_support::ReadProcessInfo(item.pid);
      if (!info || !info->alive() || info->name.rfind("baton-item-pro", 0) != 0) return false;
      if (kill(item.pid, SIGKILL) != 0) return false;
      const std::optional<pid_t> worker = WorkerPidOf(item);
      const std::optional<std::string> id = worker ? workers_.IdOf(*worker) : std::nullopt;
      Record(kind, id.value_or("orphan"),
             "pid=" + std::to_string(item.pid) + " token=" + std::to_string(item.token) +
                 " item=" + std::to_string(item.item) + " tenant=" + item.tenant);
      return true;
    }
    case FaultKind::kStoreLock: {
      const milliseconds hold = VisibilityTimes(rng, 0.3, 1.5);
      Record(kind, "store", "hold_ms=" + std::to_string(hold.count()));
      store_.HoldWriteLock(hold);
      return true;
    }
    case FaultKind::kStoreStall:
    case FaultKind::kStoreCut: {
      const std::optional<std::string> id = PickWorker(rng, false);
      if (!id) return false;
      const milliseconds length = kind == FaultKind::kStoreStall ? VisibilityTimes(rng, 1.1, 2.0)
                                                                 : VisibilityTimes(rng, 0.5, 2.0);
      kind == FaultKind::kStoreStall ? store_.Stall(*id) : store_.Cut(*id);
      Record(kind, *id, "for_ms=" + std::to_string(length.count()));
      Sleep(length);
      store_.HealAll();
      return true;
    }
    case FaultKind::kPgRestart: {
      const milliseconds down = VisibilityTimes(rng, 0.0, 1.5);
      Record(kind, "store", "down_ms=" + std::to_string(down.count()));
      store_.RestartServer(down);
      return true;
    }
    case FaultKind::kPgTerminate: {
      const int ended = store_.TerminateSessions();
      Record(kind, "store", "sessions=" + std::to_string(ended));
      return true;
    }
    default:
      return false;  // A lease run's kind.
  }
}

}  // namespace baton::chaos
