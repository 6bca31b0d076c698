#pragma once

// The `baton run` instances of a chaos run, each wrapping baton-probe, and what can be done
// to them: kill, pause, terminate, restart with the same id, and step one's wall clock.
//
// Every probe appends to the record's probes.log and holds an exclusive flock on one file
// for its whole life, so the record, not this class, says who was active when.
//
// The first instance runs under libfaketime (its wall clock can be stepped; CLOCK_MONOTONIC
// and CLOCK_BOOTTIME stay real), with the preload kept away from its child.
//
// Thread safety: one thread only.

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "probe_tail.h"
#include "support/process.h"

namespace baton::chaos {

class StoreRig;

struct GroupOptions {
  std::string baton_bin;
  std::string probe_bin;
  std::string record_dir;
  int instances = 5;
  std::chrono::milliseconds ttl{1000};
  // Sets the guardian's test-only switch that ignores the deadline, to show that the
  // checker catches a baton whose child outlives its lease.
  bool unsafe_ignore_deadline = false;
};

class Group final {
 public:
  // Starts nothing yet. Throws std::runtime_error when the clock-step instance's offset
  // file cannot be written.
  Group(GroupOptions options, const StoreRig& store);

  const std::vector<std::string>& ids() const { return ids_; }
  const std::string& clock_instance() const { return ids_.front(); }

  void StartAll();
  // Restarts, with the same id, every instance whose restart is due, and every instance
  // that ended although no fault ended it (counted: baton should not exit by itself).
  void RestartDue();
  // The instances that ended by themselves so far, "i3 (exit 0)" each.
  const std::vector<std::string>& unexpected_exits() const { return unexpected_exits_; }
  // When `id` ends by a fault, it is restarted `after` from now.
  void ScheduleRestart(const std::string& id, std::chrono::milliseconds after);

  // The active instance's child, by the record.
  std::optional<LiveChild> Active() { return tail_.Active(); }
  // Instances running and not paused, other than the active one.
  std::vector<std::string> Passives();
  pid_t BatonPid(const std::string& id) const;
  bool Running(const std::string& id);

  void Signal(const std::string& id, int signal);
  void Pause(const std::string& id);
  void Resume(const std::string& id);
  // Writes a libfaketime offset ("+1h", "-10m") for the clock-step instance.
  void SetClockOffset(const std::string& offset) const;

  // SIGCONT to every paused instance, then SIGTERM to all, then SIGKILL to what is left.
  void StopAll(std::chrono::milliseconds patience);

 private:
  struct Member {
    std::optional<test_support::Process> process;
    bool paused = false;
    std::optional<std::chrono::steady_clock::time_point> restart_at;
  };
  void Start(const std::string& id);

  GroupOptions options_;
  const StoreRig& store_;
  std::vector<std::string> ids_;
  std::map<std::string, Member> members_;
  std::string offset_file_;
  ProbeTail tail_;
  std::vector<std::string> unexpected_exits_;
};

}  // namespace baton::chaos
