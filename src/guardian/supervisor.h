#pragma once

// The guardian process's state machine: it starts the child, keeps the deadline on
// CLOCK_BOOTTIME, stops the child and every descendant when it must, and reports.
// Single-threaded: it runs alone in the guardian process.

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "guardian/protocol.h"

namespace baton::guardian::detail {

// The signals the guardian takes through a signalfd: SIGCHLD, and SIGTERM, SIGINT and
// SIGHUP aimed at the guardian itself (which stop the child as Terminate() would).
sigset_t HandledSignals();

class Supervisor final {
 public:
  // REQUIRES: the process is a child subreaper and HandledSignals() are blocked.
  // `control_fd` is baton's socket. A `reusable` supervisor runs one child after another,
  // each on its own kStart; otherwise it runs one.
  Supervisor(int control_fd, bool enforce_deadline, bool reusable);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Runs `argv` on each start message and supervises it until it and every descendant
  // are gone, then reports; returns once baton has gone away (or after one run unless
  // reusable). Returns the guardian's exit code.
  int Run(const std::vector<std::string>& argv);

 private:
  enum class Cause { kNone, kDeadline, kTerminated };

  // Waits for the next start message, skipping whatever baton sent for the run before;
  // false when baton went away (or sent garbage) or the guardian was told to stop.
  bool ReadStart();
  void RunOnce(const std::vector<std::string>& argv);
  void ResetRun();

  void StartChild(const std::vector<std::string>& argv, int64_t now);
  void Reap();
  bool HasChildren() const;
  void UpdateStops(int64_t now);
  void BeginStop(Cause cause, int64_t kill_by);
  void SignalChild(int sig);
  int64_t EnforcedDeadline() const;
  int64_t KillAt() const;
  void WaitForEvent(int64_t now);
  void OnControlReadable(int64_t now);
  void HandleMessage(const Message& message, int64_t now);
  void BatonGone(int64_t now);
  void OnSignals(int64_t now);
  void OnExecPipe();
  void Report();

  const pid_t self_;
  int control_fd_;
  const bool enforce_deadline_;
  const bool reusable_;
  int signal_fd_ = -1;
  int timer_fd_ = -1;
  int exec_fd_ = -1;  // Read end of a pipe the child writes errno to when exec fails.
  MessageReader reader_;

  int64_t deadline_ns_ = kNoDeadline;
  int64_t grace_ns_ = 0;
  std::vector<std::string> env_;
  int stdio_[3] = {-1, -1, -1};  // From the start message; closed once the child has them.
  bool stop_requested_ = false;  // SIGTERM, SIGINT or SIGHUP to the guardian itself.

  pid_t child_pid_ = -1;
  bool child_reaped_ = false;
  int child_status_ = 0;
  int exec_errno_ = 0;
  int spawn_errno_ = 0;         // The child could not even be forked.
  bool never_started_ = false;  // The deadline had passed before the child could start.

  bool stopping_ = false;  // SIGTERM sent; SIGKILL for everyone at KillAt().
  Cause cause_ = Cause::kNone;
  int64_t kill_by_ = kNoDeadline;
  bool killing_ = false;  // SIGKILL phase: kill and rescan until no descendant is left.
  int rescan_ms_ = 1;
};

}  // namespace baton::guardian::detail
