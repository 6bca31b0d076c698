#pragma once

// The guardian: a small process between baton and a child it runs, so that the child's
// life is bounded by an absolute CLOCK_BOOTTIME deadline even when baton itself hangs, is
// paused (SIGSTOP) or is killed (SIGKILL). See SPEC 2.6 and README "How it works".
//
// baton starts it as `baton __guardian` (re-executing its own binary: baton has threads,
// so a plain fork could not safely run code). The guardian:
//   - runs in its own process group and session, as a child subreaper, so `setsid` and
//     double-forked descendants of the child are still reparented to it and its to kill;
//   - starts the child with PR_SET_PDEATHSIG(SIGKILL) in case the guardian itself dies;
//   - sends SIGTERM at deadline − grace and SIGKILL to every descendant at the deadline,
//     unless baton has moved the deadline;
//   - treats end-of-file on its control socket (baton gone) like a deadline that is now:
//     SIGTERM now, SIGKILL at min(now + grace, deadline);
//   - never blocks on output: the child writes to baton's own stdout/stderr directly.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton::guardian {

struct SpawnOptions {
  std::vector<std::string> argv;  // The command and its arguments; run with execvp, no shell.
  std::vector<std::string> env;   // The child's whole environment, "NAME=value" each.
  TimePoint deadline = TimePoint::max();  // Absolute, CLOCK_BOOTTIME. max(): none.
  Duration grace = std::chrono::seconds(2);
  // The binary that understands `__guardian`; the running baton by default.
  std::string guardian_exe = "/proc/self/exe";
  // When >= 0, the child's standard input (for a payload); baton keeps its own copy.
  // Default: the child shares baton's standard input.
  int stdin_fd = -1;
  // When >= 0, the child's standard output and error (pipes baton reads, to prefix its
  // lines). The guardian writes to its stderr only before the child starts, never while it
  // supervises, so a full pipe (a paused baton) can block the child but not the guardian.
  // Default: baton's own.
  int stdout_fd = -1;
  int stderr_fd = -1;
  // A reusable guardian runs one child after another for the same argv: once Wait() has
  // returned a run's exit, Start() may begin the next. A run then costs a fork and the
  // command's exec, not also an exec of baton.
  bool reusable = false;
};

// The child's standard streams for one run (see GuardedChild::Start); -1 keeps the one
// the guardian was given by Prepare(). The caller keeps its own copies.
struct Stdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

enum class ExitKind {
  kExited,       // The child exited by itself with `code`.
  kSignaled,     // The child was killed by `signal` (not by the guardian).
  kDeadline,     // The guardian stopped it because its deadline came (or had passed before
                 // it could start: then it never ran).
  kTerminated,   // The guardian stopped it on Terminate() (or because baton went away).
  kSpawnFailed,  // exec failed (`code` is the errno).
};
const char* ToString(ExitKind kind);

// How the child ended. `code` is its exit code (kExited; the errno for kSpawnFailed) and
// `signal` the signal that killed it (kSignaled). kDeadline and kTerminated say why the
// guardian stopped it; `code` or `signal` then still tell how it died (for example SIGTERM
// when it obeyed, SIGKILL when the grace ran out).
struct ChildExit {
  ExitKind kind = ExitKind::kExited;
  int code = 0;
  int signal = 0;
};

// baton's handle on one guardian and its child. Thread safety: ExtendDeadline() and
// Terminate() may be called from any thread, also while another thread is in Wait().
class GuardedChild final {
 public:
  // Starts the guardian, which starts the child. Fails (kInvalidArgument) when the
  // guardian cannot be started; an exec failure of the child shows as kSpawnFailed.
  static Result<std::unique_ptr<GuardedChild>> Spawn(const SpawnOptions& options);
  // Spawn() in two steps. Prepare() starts the guardian (an exec of baton, the slow part)
  // and leaves it waiting; Start() hands it the environment and deadline and returns once
  // the child runs. baton prepares while passive so that becoming active costs only the
  // child's own start. Prepare() ignores `env`, `deadline` and `grace`.
  static Result<std::unique_ptr<GuardedChild>> Prepare(const SpawnOptions& options);
  // REQUIRES: from Prepare(), not started yet; or reusable and the last run's Wait()
  // returned with CanRunAgain(). A guardian that died meanwhile is an error
  // (kInvalidArgument): prepare another.
  Result<void> Start(std::vector<std::string> env, TimePoint deadline, Duration grace,
                     Stdio stdio = {});
  // Closes the control socket: the guardian then stops the child (SIGTERM, SIGKILL after
  // grace). Blocks until the guardian has exited, so no child outlives the handle.
  ~GuardedChild();

  // Moves the deadline (later or earlier).
  void SetDeadline(TimePoint deadline);
  // SIGTERM to the child now, SIGKILL to every descendant after `grace` (never later than
  // the deadline).
  void Terminate(Duration grace);
  // Blocks until the child and every descendant are gone and the guardian has exited (a
  // reusable one: has reported the run), or until `timeout` passes (std::nullopt then).
  std::optional<ChildExit> Wait(std::optional<Duration> timeout = std::nullopt);
  // Reusable, its last run reported, and its control socket still sound.
  bool CanRunAgain() const;

  pid_t guardian_pid() const { return guardian_pid_; }
  // -1 when the child never started (see kDeadline, kSpawnFailed).
  pid_t child_pid() const { return child_pid_; }

 private:
  GuardedChild() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string command_;  // The guardian binary, for messages.
  bool reusable_ = false;
  pid_t guardian_pid_ = -1;
  pid_t child_pid_ = -1;
};

// The guardian process's main: `baton __guardian ...` lands here. Exits 0 after reporting.
int GuardianMain(int argc, char** argv);

}  // namespace baton::guardian
