#pragma once

// The faults a chaos run injects, and the seeded choice of which comes next.
//
// Each fault is recorded in the record's faults.log as it starts:
//   fault kind=K target=ID mono_ns=T [key=value ...]
// so the checker can count them and a reader can line them up with the probes' intervals.
//
// Thread safety: one thread only.

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "store_rig.h"

namespace baton::chaos {

class Group;

enum class FaultKind {
  kKillActive,        // SIGKILL of the active baton; restarted with its id later.
  kKillPassive,       // SIGKILL of a passive baton; restarted later.
  kKillChild,         // SIGKILL of the active child alone.
  kStopActive,        // SIGSTOP of the active baton for longer than the ttl, then SIGCONT.
  kStopAfterRenewal,  // The same, right after it wrote to the store (a renewal just sent).
  kStopPassive,       // SIGSTOP of a passive baton for longer than the ttl.
  kTermActive,        // SIGTERM of the active baton (graceful handover); restarted later.
  kClockStep,         // A wall-clock step of the instance under libfaketime.
  kStoreLock,         // SQLite: a write transaction held open by another process.
  kStoreSlow,         // PostgreSQL, etcd: one instance's connections delayed.
  kStoreStall,        // PostgreSQL, etcd: the active's (a queue run: a worker's) connections
                      // stalled longer than the ttl (the visibility).
  kStoreCut,          // PostgreSQL, etcd: the active's (a worker's) connections cut, then healed.
  kPgRestart,         // PostgreSQL: the server stopped (fast) and started again.
  kPgTerminate,       // PostgreSQL: pg_terminate_backend of every baton session.
  kEtcdLeaderKill,    // etcd: SIGKILL of the leading member; started again later.
  kEtcdMemberStop,    // etcd: SIGSTOP of one member (the leader half the time), then SIGCONT.
  kEtcdPartition,     // etcd: one member (the leader half the time) cut off from the others;
                      // clients still reach it.
  kEtcdClusterStop,   // etcd: every member paused longer than the ttl (no quorum), resumed.
  // Queue runs (queue_faults.h): aimed at `baton work` workers and their item commands.
  kKillWorker,  // SIGKILL of a worker (one with a running item if any); restarted later.
  kStopWorker,  // SIGSTOP of a worker with a running item past the visibility, then SIGCONT.
  kTermWorker,  // SIGTERM of a worker (it releases what does not finish); restarted later.
  kKillItem,    // SIGKILL of one running item command.
};

std::string_view Name(FaultKind kind);
std::optional<FaultKind> ParseFaultKind(std::string_view name);
// The kinds that make sense on a store in a lease run, or with `queue` in a queue run.
std::vector<FaultKind> FaultKindsFor(StoreKind store, bool queue = false);

// Picks the next kind: one that has been injected fewer than `min_each` times while there
// is such a kind, else any.
class FaultSchedule final {
 public:
  FaultSchedule(std::vector<FaultKind> kinds, int min_each)
      : kinds_(std::move(kinds)), min_each_(min_each) {}
  FaultKind Next(std::mt19937_64& rng) const;
  void Count(FaultKind kind) { ++done_[kind]; }
  // The kinds still short of `min_each`, by name.
  std::vector<std::string> Shortfall() const;

 private:
  std::vector<FaultKind> kinds_;
  int min_each_;
  std::map<FaultKind, int> done_;
};

class FaultInjector final {
 public:
  FaultInjector(Group& group, StoreRig& store, std::chrono::milliseconds ttl,
                const std::string& faults_log);

  // Injects one fault of `kind` and waits until it is over (a paused instance resumed, a
  // cut healed). False, with nothing done, when it cannot be injected now (no instance is
  // active, say). Throws std::runtime_error when the store cannot be restarted.
  bool Inject(FaultKind kind, std::mt19937_64& rng);
  // Sleeps, restarting the instances whose restart is due meanwhile.
  void Sleep(std::chrono::milliseconds how_long);

 private:
  void Record(FaultKind kind, const std::string& target, const std::string& details = "");
  // A random duration between `low` and `high` times the ttl.
  std::chrono::milliseconds TtlTimes(std::mt19937_64& rng, double low, double high) const;
  bool PauseActive(FaultKind kind, std::mt19937_64& rng);
  bool InjectEtcd(FaultKind kind, std::mt19937_64& rng);
  // Waits (briefly) until `id` writes to the store, so a pause lands just after a renewal.
  std::optional<std::chrono::microseconds> WaitForStoreWrite(const std::string& id);

  Group& group_;
  StoreRig& store_;
  std::chrono::milliseconds ttl_;
  std::ofstream log_;
  std::string clock_offset_ = "+0";
};

}  // namespace baton::chaos
