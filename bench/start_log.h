#pragma once

// The benchmark's child and the channel its start lines come back on.
//
// The child is this same program run as `baton-failover-bench __child FIFO LOCK` under
// `baton run` (or `etcdctl lock`, which gives it ETCD_LOCK_REV for a token). It reads
// CLOCK_MONOTONIC as the first thing it does, writes one line
//   start token=N instance=ID pid=P mono_ns=T overlap=0|1
// into the FIFO, and then waits for SIGTERM, on which it exits at once (SPEC 2: "measured
// with a child that exits at once on SIGTERM"). overlap=1 means another child still held
// the exclusive flock on LOCK when this one started: two were active at once, a fact the
// kernel decides rather than a timestamp.
//
// Thread safety: StartLog is used from one thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace baton::bench {

// CLOCK_MONOTONIC in nanoseconds: the clock the child stamps its start with.
int64_t MonoNs();

struct StartLine {
  uint64_t token = 0;
  std::string instance;
  int pid = -1;
  int64_t mono_ns = 0;
  bool overlap = false;
};

// Parses one line as the child writes it; nullopt for anything else.
std::optional<StartLine> ParseStartLine(const std::string& line);

// The child's main, for `__child FIFO LOCK`. Returns its exit code (0 on SIGTERM).
int ChildMain(const std::string& fifo_path, const std::string& lock_path);

// The reading end of the FIFO. Opened read-write so the FIFO never reports end-of-file
// between children and a child's open() never blocks waiting for a reader.
class StartLog final {
 public:
  static std::optional<StartLog> Open(const std::string& fifo_path);
  StartLog(StartLog&& other) noexcept;
  StartLog& operator=(StartLog&&) = delete;
  ~StartLog();

  // The next start line, waiting at most `timeout`; nullopt when none came.
  std::optional<StartLine> Next(std::chrono::milliseconds timeout);

 private:
  explicit StartLog(int fd) : fd_(fd) {}
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace baton::bench
