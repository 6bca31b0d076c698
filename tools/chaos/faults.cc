#include "faults.h"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "fault_proxy.h"
#include "group.h"
#include "support/etcd_cluster.h"
#include "support/wait.h"

namespace baton::chaos {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

struct KindName {
  FaultKind kind;
  std::string_view name;
  enum { kAny, kSqlite, kPostgres, kNetworked, kEtcd } store;
  enum { kLease = 1, kQueue = 2, kBoth = 3 } modes;
};
constexpr KindName kKinds[] = {
    {FaultKind::kKillActive, "kill-active", KindName::kAny, KindName::kLease},
    {FaultKind::kKillPassive, "kill-passive", KindName::kAny, KindName::kLease},
    {FaultKind::kKillChild, "kill-child", KindName::kAny, KindName::kLease},
    {FaultKind::kStopActive, "stop-active", KindName::kAny, KindName::kLease},
    {FaultKind::kStopAfterRenewal, "stop-after-renewal", KindName::kAny, KindName::kLease},
    {FaultKind::kStopPassive, "stop-passive", KindName::kAny, KindName::kLease},
    {FaultKind::kTermActive, "term-active", KindName::kAny, KindName::kLease},
    {FaultKind::kClockStep, "clock-step", KindName::kAny, KindName::kLease},
    {FaultKind::kKillWorker, "kill-worker", KindName::kAny, KindName::kQueue},
    {FaultKind::kStopWorker, "stop-worker", KindName::kAny, KindName::kQueue},
    {FaultKind::kTermWorker, "term-worker", KindName::kAny, KindName::kQueue},
    {FaultKind::kKillItem, "kill-item", KindName::kAny, KindName::kQueue},
    {FaultKind::kStoreLock, "store-lock", KindName::kSqlite, KindName::kBoth},
    {FaultKind::kStoreSlow, "store-slow", KindName::kNetworked, KindName::kLease},
    {FaultKind::kStoreStall, "store-stall", KindName::kNetworked, KindName::kBoth},
    {FaultKind::kStoreCut, "store-cut", KindName::kNetworked, KindName::kBoth},
    {FaultKind::kPgRestart, "pg-restart", KindName::kPostgres, KindName::kBoth},
    {FaultKind::kPgTerminate, "pg-terminate", KindName::kPostgres, KindName::kBoth},
    {FaultKind::kEtcdLeaderKill, "etcd-leader-kill", KindName::kEtcd, KindName::kLease},
    {FaultKind::kEtcdMemberStop, "etcd-member-stop", KindName::kEtcd, KindName::kLease},
    {FaultKind::kEtcdPartition, "etcd-partition", KindName::kEtcd, KindName::kLease},
    {FaultKind::kEtcdClusterStop, "etcd-cluster-stop", KindName::kEtcd, KindName::kLease},
};

bool Fits(const KindName& k, StoreKind store) {
  switch (k.store) {
    case KindName::kAny:
      return true;
    case KindName::kSqlite:
      return store == StoreKind::kSqlite;
    case KindName::kPostgres:
      return store == StoreKind::kPostgres;
    case KindName::kNetworked:
      return store != StoreKind::kSqlite;
    case KindName::kEtcd:
      return store == StoreKind::kEtcd;
  }
  return false;
}

// Offsets libfaketime understands; each step moves the wall clock by the difference.
constexpr const char* kClockOffsets[] = {"+0", "+1h", "-1h", "+10m", "-10m", "+1d", "-3m"};

// Write system calls of a process so far (/proc/PID/io, syscw); -1 when unreadable.
int64_t WriteCalls(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscw:") return value;
  }
  return -1;
}

template <typename T>
const T& Pick(const std::vector<T>& items, std::mt19937_64& rng) {
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(rng)];
}

}  // namespace

std::string_view Name(FaultKind kind) {
  for (const KindName& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

std::optional<FaultKind> ParseFaultKind(std::string_view name) {
  for (const KindName& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

std::vector<FaultKind> FaultKindsFor(StoreKind store, bool queue) {
  std::vector<FaultKind> kinds;
  for (const KindName& k : kKinds) {
    if ((k.modes & (queue ? KindName::kQueue : KindName::kLease)) == 0) continue;
    if (Fits(k, store)) kinds.push_back(k.kind);
  }
  return kinds;
}

FaultKind FaultSchedule::Next(std::mt19937_64& rng) const {
  std::vector<FaultKind> short_of_min;
  for (FaultKind kind : kinds_) {
    const auto done = done_.find(kind);
    if (done == done_.end() || done->second < min_each_) short_of_min.push_back(kind);
  }
  return Pick(short_of_min.empty() ? kinds_ : short_of_min, rng);
}

std::vector<std::string> FaultSchedule::Shortfall() const {
  std::vector<std::string> names;
  for (FaultKind kind : kinds_) {
    const auto done = done_.find(kind);
    if (done == done_.end() || done->second < min_each_) names.emplace_back(Name(kind));
  }
  return names;
}

FaultInjector::FaultInjector(Group& group, StoreRig& store, milliseconds ttl,
                             const std::string& faults_log)
    : group_(group), store_(store), ttl_(ttl), log_(faults_log, std::ios::app) {
  if (!log_) throw std::runtime_error("cannot write " + faults_log);
}

void FaultInjector::Record(FaultKind kind, const std::string& target, const std::string& details) {
  log_ << "fault kind=" << Name(kind) << " target=" << target
       << " mono_ns=" << test_support::MonoNowNs() << (details.empty() ? "" : " ") << details
       << std::endl;
}

milliseconds FaultInjector::TtlTimes(std::mt19937_64& rng, double low, double high) const {
  const double factor = std::uniform_real_distribution<double>(low, high)(rng);
  return milliseconds(static_cast<int64_t>(factor * static_cast<double>(ttl_.count())));
}

void FaultInjector::Sleep(milliseconds how_long) {
  const auto until = std::chrono::steady_clock::now() + how_long;
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    group_.RestartDue();
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(until - now, milliseconds(20)));
  }
}

std::optional<microseconds> FaultInjector::WaitForStoreWrite(const std::string& id) {
  // SQLite: a heartbeat is a write to the database file. PostgreSQL, etcd: bytes towards
  // the server through this instance's proxies. Either comes within a heartbeat (ttl/5).
  const pid_t pid = group_.BatonPid(id);
  auto writes = [&]() -> int64_t {
    return store_.networked() ? static_cast<int64_t>(store_.ClientBytes(id)) : WriteCalls(pid);
  };
  const int64_t before = writes();
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + ttl_;
  while (std::chrono::steady_clock::now() < until) {
    if (writes() != before) {
      return std::chrono::duration_cast<microseconds>(std::chrono::steady_clock::now() - start);
    }
    std::this_thread::sleep_for(microseconds(200));
  }
  return std::nullopt;
}

bool FaultInjector::PauseActive(FaultKind kind, std::mt19937_64& rng) {
  const std::optional<LiveChild> active = group_.Active();
  if (!active || !group_.Running(active->instance)) return false;
  const milliseconds pause = TtlTimes(rng, 1.1, 2.0);
  std::string details = "pause_ms=" + std::to_string(pause.count());
  if (kind == FaultKind::kStopAfterRenewal) {
    const std::optional<microseconds> waited = WaitForStoreWrite(active->instance);
    if (!waited) return false;
    details += " waited_us=" + std::to_string(waited->count());
  }
  group_.Pause(active->instance);
  Record(kind, active->instance, details + " token=" + std::to_string(active->token));
  Sleep(pause);
  group_.Resume(active->instance);
  return true;
}

bool FaultInjector::Inject(FaultKind kind, std::mt19937_64& rng) {
  std::optional<LiveChild> active = group_.Active();
  switch (kind) {
    case FaultKind::kKillActive:
    case FaultKind::kTermActive: {
      if (!active || !group_.Running(active->instance)) return false;
      group_.Signal(active->instance, kind == FaultKind::kKillActive ? SIGKILL : SIGTERM);
      const milliseconds restart = TtlTimes(rng, 0.1, 1.5);
      Record(kind, active->instance, "restart_after_ms=" + std::to_string(restart.count()));
      group_.ScheduleRestart(active->instance, restart);
      return true;
    }
    case FaultKind::kKillPassive: {
      const std::vector<std::string> passives = group_.Passives();
      if (passives.empty()) return false;
      const std::string& id = Pick(passives, rng);
      group_.Signal(id, SIGKILL);
      const milliseconds restart = TtlTimes(rng, 0.1, 1.5);
      Record(kind, id, "restart_after_ms=" + std::to_string(restart.count()));
      group_.ScheduleRestart(id, restart);
      return true;
    }
    case FaultKind::kKillChild:
      if (!active) return false;
      if (kill(active->pid, SIGKILL) != 0) return false;
      Record(kind, active->instance, "pid=" + std::to_string(active->pid));
      return true;
    case FaultKind::kStopActive:
    case FaultKind::kStopAfterRenewal:
      return PauseActive(kind, rng);
    case FaultKind::kStopPassive: {
      const std::vector<std::string> passives = group_.Passives();
      if (passives.empty()) return false;
      const std::string& id = Pick(passives, rng);
      const milliseconds pause = TtlTimes(rng, 1.1, 2.0);
      group_.Pause(id);
      Record(kind, id, "pause_ms=" + std::to_string(pause.count()));
      Sleep(pause);
      group_.Resume(id);
      return true;
    }
    case FaultKind::kClockStep: {
      std::vector<std::string> offsets;
      for (const char* offset : kClockOffsets) {
        if (offset != clock_offset_) offsets.emplace_back(offset);
      }
      clock_offset_ = Pick(offsets, rng);
      group_.SetClockOffset(clock_offset_);
      Record(kind, group_.clock_instance(), "offset=" + clock_offset_);
      return true;
    }
    case FaultKind::kStoreLock: {
      const milliseconds hold = TtlTimes(rng, 0.3, 1.5);
      Record(kind, "store", "hold_ms=" + std::to_string(hold.count()));
      store_.HoldWriteLock(hold);
      return true;
    }
    case FaultKind::kStoreSlow: {
      const std::string id = active ? active->instance : Pick(group_.ids(), rng);
      const milliseconds delay = TtlTimes(rng, 0.05, 0.4);
      const milliseconds length = TtlTimes(rng, 1.0, 3.0);
      store_.SetDelay(id, delay);
      Record(kind, id,
             "delay_ms=" + std::to_string(delay.count()) +
                 " for_ms=" + std::to_string(length.count()));
      Sleep(length);
      store_.HealAll();
      return true;
    }
    case FaultKind::kStoreStall:
    case FaultKind::kStoreCut: {
      if (!active) return false;
      const milliseconds length =
          kind == FaultKind::kStoreStall ? TtlTimes(rng, 1.1, 2.0) : TtlTimes(rng, 0.5, 2.0);
      kind == FaultKind::kStoreStall ? store_.Stall(active->instance)
                                     : store_.Cut(active->instance);
      Record(kind, active->instance, "for_ms=" + std::to_string(length.count()));
      Sleep(length);
      store_.HealAll();
      return true;
    }
    case FaultKind::kPgRestart: {
      const milliseconds down = TtlTimes(rng, 0.0, 1.5);
      Record(kind, "store", "down_ms=" + std::to_string(down.count()));
      store_.RestartServer(down);
      return true;
    }
    case FaultKind::kPgTerminate: {
      const int ended = store_.TerminateSessions();
      Record(kind, "store", "sessions=" + std::to_string(ended));
      return true;
    }
    case FaultKind::kEtcdLeaderKill:
    case FaultKind::kEtcdMemberStop:
    case FaultKind::kEtcdPartition:
    case FaultKind::kEtcdClusterStop:
      return InjectEtcd(kind, rng);
    case FaultKind::kKillWorker:
    case FaultKind::kStopWorker:
    case FaultKind::kTermWorker:
    case FaultKind::kKillItem:
      return false;  // Queue runs only (queue_faults.h).
  }
  return false;
}

bool FaultInjector::InjectEtcd(FaultKind kind, std::mt19937_64& rng) {
  test_support::EtcdCluster& etcd = store_.etcd();
  const std::optional<int> leader = etcd.Leader();
  // The leader half the time: losing it costs an election, losing a follower does not.
  auto target = [&]() -> int {
    if (leader && std::bernoulli_distribution(0.5)(rng)) return *leader;
    return std::uniform_int_distribution<int>(0, etcd.size() - 1)(rng);
  };
  const std::string leader_note = " leader=" + (leader ? "m" + std::to_string(*leader) : "none");
  switch (kind) {
    case FaultKind::kEtcdLeaderKill: {
      if (!leader) return false;
      const milliseconds down = TtlTimes(rng, 0.5, 3.0);
      etcd.KillMember(*leader);
      Record(kind, "m" + std::to_string(*leader), "down_ms=" + std::to_string(down.count()));
      Sleep(down);
      etcd.StartMember(*leader);
      return true;
    }
    case FaultKind::kEtcdMemberStop:
    case FaultKind::kEtcdPartition: {
      const int member = target();
      const milliseconds length = TtlTimes(rng, 1.1, 3.0);
      kind == FaultKind::kEtcdMemberStop ? etcd.PauseMember(member) : etcd.PartitionMember(member);
      Record(kind, "m" + std::to_string(member),
             "for_ms=" + std::to_string(length.count()) + leader_note);
      Sleep(length);
      kind == FaultKind::kEtcdMemberStop ? etcd.ResumeMember(member) : etcd.HealPartition();
      return true;
    }
    case FaultKind::kEtcdClusterStop: {
      const milliseconds length = TtlTimes(rng, 1.1, 2.0);
      for (int m = 0; m < etcd.size(); ++m) etcd.PauseMember(m);
      Record(kind, "store", "for_ms=" + std::to_string(length.count()));
      Sleep(length);
      for (int m = 0; m < etcd.size(); ++m) etcd.ResumeMember(m);
      return true;
    }
    default:
      return false;
  }
}

}  // namespace baton::chaos
