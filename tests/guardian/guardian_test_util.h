#pragma once

// Helpers for the guardian's tests: real processes, observed through pidfds and pid files.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "guardian/guardian.h"
#include "support/temp_dir.h"

namespace baton::guardian::guardian_test {

using namespace std::chrono_literals;

// Scheduling noise allowed after a moment the guardian must act at (generous: the machine
// may be busy) and before it (the timer cannot fire early; this only absorbs rounding).
inline constexpr Duration kLate = 500ms;
inline constexpr Duration kEarly = 50ms;

// `sh ignore_term.sh PIDFILE`: ignores SIGTERM, then writes its pid (so the file's presence
// means SIGTERM is ignored) and becomes a `sleep` that still ignores it.
inline constexpr const char* kIgnoreTermScript =
    "trap '' TERM\n"
    "echo $$ > \"$1\"\n"
    "exec sleep 30";

// `sh family.sh DIR` (with DIR/ignore_term.sh): starts a grandchild in its own session
// (DIR/setsid.pid) and a double-forked orphan (DIR/orphan.pid), both ignoring SIGTERM,
// then ignores SIGTERM itself and sleeps.
inline constexpr const char* kFamilyScript =
    "trap '' TERM\n"
    "setsid sh \"$1/ignore_term.sh\" \"$1/setsid.pid\" &\n"
    "(sh \"$1/ignore_term.sh\" \"$1/orphan.pid\" &)\n"
    "exec sleep 30";

// Sleeps until `t` on CLOCK_BOOTTIME.
void SleepUntil(TimePoint t);

// A scratch directory (see support/temp_dir.h) that also holds the scripts children run.
class TempDir final {
 public:
  TempDir() : dir_("guardian"), path_(dir_.path().string()) {}

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return dir_.File(name); }
  // Writes an executable-by-sh script and returns its path.
  std::string Script(const std::string& name, const std::string& body) const;

 private:
  test_support::TempDir dir_;
  std::string path_;
};

// Watches one process, child or not, through a pidfd (which cannot be fooled by pid reuse).
class ProcessWatch final {
 public:
  explicit ProcessWatch(pid_t pid);
  ~ProcessWatch();
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;

  // False when the process was already gone when the watch was made.
  bool valid() const { return fd_ >= 0; }
  bool Alive() const;
  // When the exit was seen (CLOCK_BOOTTIME), or std::nullopt if it is still alive after
  // `timeout`. The time seen is never before the real exit.
  std::optional<TimePoint> AwaitExit(Duration timeout) const;

 private:
  int fd_ = -1;
};

// Waits (up to `timeout`) for `path` to hold a complete "PID\n" line and returns the pid.
std::optional<pid_t> AwaitPidFile(const std::string& path, Duration timeout = 5s);

// The parent pid of `pid`, from /proc; -1 if it is gone.
pid_t ParentOf(pid_t pid);

// Spawns under the guardian; nullptr (a test failure already added) when that fails.
std::unique_ptr<GuardedChild> MustSpawn(const SpawnOptions& options);

// Options that run `argv` under the test's guardian host with a plain PATH.
SpawnOptions Options(std::vector<std::string> argv);

// Expects `watch`'s process to be alive, unless the check started at or after `limit`
// (a late test thread must not turn into a false failure).
void ExpectAliveBefore(const ProcessWatch& watch, TimePoint limit, const char* what);

}  // namespace baton::guardian::guardian_test
