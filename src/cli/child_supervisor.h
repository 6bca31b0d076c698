#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../guardian/guardian.h"
#include "baton/elector.h"
#include "event_queue.h"

namespace baton::cli {

struct RunEvent {
  enum class Kind { kSignal, kChildExited, kElectorDone };
  Kind kind = Kind::kSignal;
  int signal = 0;
  guardian::ChildExit exit;
  bool active_child = false;  // The active command (not the passive one).
  uint64_t token = 0;         // The token the active command ran under.
  Duration lived{0};
};

struct ChildCommands {
  std::vector<std::string> active;     // Runs only while active (no shell).
  std::optional<std::string> passive;  // Runs with /bin/sh -c only while passive.
  std::vector<std::string> base_env;   // The environment both start from.
  std::string group;
  std::string instance_id;
  Duration grace{0};
};

// Starts and stops `baton run`'s children as the elector says: the active command under a
// guardian that enforces the lease deadline, the passive command while passive. Reports
// every exit to the run loop's queue.
//
// Thread safety: the ElectorListener calls come from the elector's threads (never two at
// once); StartPassive() and StopAll() from the main thread.
class ChildSupervisor final : public ElectorListener {
 public:
  ChildSupervisor(ChildCommands commands, EventQueue<RunEvent>& events);
  ~ChildSupervisor() override;

  void OnActive(uint64_t token, TimePoint deadline) override;
  void OnRenewed(uint64_t token, TimePoint deadline) override;
  void OnPassive(PassiveReason reason) override;
  // Starts the passive command if it does not run yet: only once a heartbeat has shown that
  // another instance holds the lease, so an instance that wins at once never starts it.
  void OnStillPassive() override;

  // Prepares a guardian for the active command, so that becoming active costs only the
  // command's own start.
  void Prepare();
  // Stops whatever runs and waits for it (grace, then SIGKILL).
  void StopAll();

 private:
  struct Running {
    std::shared_ptr<guardian::GuardedChild> child;
    std::thread waiter;
    // Set by the waiter once the child has ended, so a stop says nothing of a child that
    // has already gone.
    std::shared_ptr<std::atomic<bool>> ended;
  };
  // The base environment plus BATON_GROUP, BATON_INSTANCE and, for the active command,
  // BATON_TOKEN.
  std::vector<std::string> EnvironmentFor(std::optional<uint64_t> token) const;
  guardian::SpawnOptions SpawnOptionsFor(std::vector<std::string> argv,
                                         std::vector<std::string> env, TimePoint deadline) const;
  // Starts a guardian for the active command while passive, so that becoming active costs
  // only the command's own start. REQUIRES: mu_ held.
  void PrepareActiveLocked();
  // The prepared guardian, or a new one if there is none. REQUIRES: mu_ held.
  Result<std::shared_ptr<guardian::GuardedChild>> StartActiveLocked(std::vector<std::string> env,
                                                                    TimePoint deadline);
  static Result<std::shared_ptr<guardian::GuardedChild>> SpawnShared(
      const guardian::SpawnOptions& options);
  // Reports the child's exit to the run loop from a thread of its own.
  std::optional<Running> Watch(Result<std::shared_ptr<guardian::GuardedChild>> started, bool active,
                               uint64_t token);
  void Stop(std::optional<Running>& running);
  void StartPassiveLocked();  // REQUIRES: mu_ held.

  const ChildCommands commands_;
  EventQueue<RunEvent>& events_;
  std::mutex mu_;
  std::optional<Running> active_;
  std::optional<Running> passive_;
  std::shared_ptr<guardian::GuardedChild> warm_;  // Prepared, not started.
};

// The environment a child inherits: baton's own, minus every BATON_* variable (the store
// URL and baton's settings are never passed on) and systemd's NOTIFY_SOCKET, WATCHDOG_USEC
// and WATCHDOG_PID (addressed to baton: a child must not speak for it).
std::vector<std::string> InheritedEnvironment();

}  // namespace baton::cli
