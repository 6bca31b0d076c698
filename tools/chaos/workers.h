#pragma once

// The `baton work` processes of a queue chaos run, each running baton-chaos-item (and so
// baton-item-probe) per item, and what can be done to them: kill, pause, terminate and
// restart with the same id.
//
// Every item's probe appends to the record's items.log and holds an exclusive flock per
// tenant under the record's locks/ for its whole work, so the record, not this class, says
// which items ran when.
//
// Thread safety: one thread only.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/process.h"

namespace baton::chaos {

class StoreRig;

struct WorkersOptions {
  std::string baton_bin;
  std::string item_bin;   // baton-chaos-item.
  std::string probe_bin;  // baton-item-probe.
  std::string record_dir;
  int workers = 3;
  int concurrency = 4;
  std::chrono::milliseconds visibility{1500};
  // Sets the guardian's test-only switch that ignores the deadline, to show that the checker
  // catches a paused worker's command outliving its claim.
  bool unsafe_ignore_deadline = false;
};

class Workers final {
 public:
  Workers(WorkersOptions options, const StoreRig& store);

  const std::vector<std::string>& ids() const { return ids_; }
  static constexpr const char* kGroup = "chaos";
  static constexpr const char* kQueue = "work";

  void StartAll();
  // Restarts, with the same id, every worker whose restart is due, and every worker that
  // ended although no fault ended it (counted: baton work should not exit by itself).
  void RestartDue();
  const std::vector<std::string>& unexpected_exits() const { return unexpected_exits_; }
  // When `id` ends by a fault, it is restarted `after` from now.
  void ScheduleRestart(const std::string& id, std::chrono::milliseconds after);
  // Whether a restart of any worker is still to come.
  bool RestartsPending() const;

  // Running and not paused.
  std::vector<std::string> Live();
  pid_t Pid(const std::string& id) const;
  // The worker whose process is `pid`, if any.
  std::optional<std::string> IdOf(pid_t pid) const;

  void Signal(const std::string& id, int signal);
  void Pause(const std::string& id);
  void Resume(const std::string& id);

  // SIGCONT to every paused worker, then SIGTERM to all, then SIGKILL to what is left after
  // `patience`.
  void StopAll(std::chrono::milliseconds patience);

 private:
  struct Member {
    std::optional<test_support::Process> process;
    bool paused = false;
    std::optional<std::chrono::steady_clock::time_point> restart_at;
  };
  void Start(const std::string& id);

  WorkersOptions options_;
  const StoreRig& store_;
  std::vector<std::string> ids_;
  std::map<std::string, Member> members_;
  std::vector<std::string> unexpected_exits_;
};

}  // namespace baton::chaos
