#pragma once

// Starting, signalling and watching real processes from a test.
//
// Not thread-safe: one test thread drives its processes. A test process that calls
// BecomeSubreaper() adopts every orphaned descendant (guardians whose baton was killed,
// children of those), so KillDescendants() can leave nothing behind.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace baton::test_support {

struct CommandResult;

struct ExitStatus {
  int code = -1;   // The exit code when the process exited by itself, else -1.
  int signal = 0;  // The signal that killed it, else 0.

  bool Exited(int expected_code) const { return signal == 0 && code == expected_code; }
  std::string Describe() const;  // "exit 2", "killed by signal 9".
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the path of the program; no shell, no PATH.
  // Added to this process's environment, "NAME=value" each. Inherited BATON_* variables are
  // dropped first, so a developer's settings cannot change what a test runs.
  std::vector<std::string> extra_env;
  // Where stdout and stderr go (appended; created if missing). Empty: /dev/null. The same
  // path for both gives one interleaved file.
  std::string stdout_path;
  std::string stderr_path;
};

// A process this test started. Its destructor SIGKILLs and reaps it if it still runs.
class Process final {
 public:
  // Throws std::runtime_error when the program cannot be started.
  static Process Spawn(const SpawnOptions& options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }

  void Signal(int signal) const;
  void Kill() const;       // SIGKILL
  void Terminate() const;  // SIGTERM
  void Stop() const;       // SIGSTOP
  void Continue() const;   // SIGCONT

  // Reaps the process if it has ended within `timeout`; std::nullopt if it still runs.
  std::optional<ExitStatus> WaitExit(std::chrono::milliseconds timeout);
  // True until the process has ended (reaping it when it has).
  bool Running();
  // How it ended, once WaitExit() or Running() has seen it end.
  const std::optional<ExitStatus>& exit_status() const { return exit_status_; }

 private:
  friend CommandResult RunCommand(const std::vector<std::string>&, std::chrono::milliseconds,
                                  const std::vector<std::string>&);
  explicit Process(pid_t pid) : pid_(pid) {}
  bool TryReap(bool block);
  void KillAndReap();

  pid_t pid_ = -1;
  std::optional<ExitStatus> exit_status_;
};

// What a short command printed and how it ended.
struct CommandResult {
  std::optional<ExitStatus> status;  // std::nullopt: it ran past the timeout and was killed.
  std::string out;
  std::string err;

  bool Exited(int code) const { return status && status->Exited(code); }
  std::string Describe() const;  // The status and both outputs, for failure messages.
};

// Runs a command to its end (killed after `timeout`) and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10),
                         const std::vector<std::string>& extra_env = {});

// True while `pid` exists and is not a zombie. A process that was killed but not yet reaped
// still answers kill(pid, 0); /proc/<pid>/stat tells that it has already ended.
bool IsAlive(pid_t pid);

// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
void BecomeSubreaper();

// A process as /proc/<pid>/stat shows it.
struct ProcessInfo {
  pid_t pid = -1;
  pid_t ppid = -1;
  char state = '?';  // R, S, D, T (stopped), Z (zombie) ...
  std::string name;  // The command name, as in `ps -o comm`.

  bool alive() const { return state != 'Z' && state != 'X'; }
};
std::optional<ProcessInfo> ReadProcessInfo(pid_t pid);

// Every descendant of this process (zombies included), found through /proc, except the
// servers a test binary shares across its tests (ShareAcrossTests) and their children.
std::vector<ProcessInfo> Descendants();
// Marks `pid` as a server the binary's tests share (an etcd member): Descendants() and
// KillDescendants() leave it alone. Not thread-safe.
void ShareAcrossTests(pid_t pid);

// SIGKILLs every descendant, repeatedly until none is left or `timeout` passes, and reaps
// those that became this process's children. Returns the pids that were still alive when
// it started. Processes held by a Process object are reaped too: call it at the very end.
std::vector<pid_t> KillDescendants(std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace baton::test_support
