#pragma once

// The group of `baton run` instances the benchmark drives, and every process under them.
//
// The benchmark makes itself a child subreaper, so a guardian (or child) orphaned when its
// baton is SIGKILLed is reparented to the benchmark rather than to init. Everything it ever
// started therefore stays findable as a descendant in /proc, which is how Shutdown() makes
// sure nothing outlives the run.
//
// Thread safety: one thread only (it reaps children with waitpid(-1)).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace baton::bench {

struct ClusterOptions {
  std::string baton;                        // The baton binary.
  std::string store_url;                    // Passed as --store.
  std::string group;                        // Passed as --group.
  std::string ttl;                          // Passed as --ttl, as written ("1s").
  std::vector<std::string> extra_run_args;  // --heartbeat and friends, when given.
  std::vector<std::string> child;           // The command after `--`.
  std::string log_dir;                      // Each instance's output goes to <log_dir>/<id>.log.
};

// What `baton status --json` said, reduced to what the benchmark needs.
struct GroupView {
  std::optional<std::string> active;
  std::set<std::string> members;
};

class Cluster final {
 public:
  explicit Cluster(ClusterOptions options);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  // Calls Shutdown() if it has not run.
  ~Cluster();

  // Makes this process a child subreaper (see above). False when the kernel refuses.
  static bool BecomeSubreaper();

  // Starts one more instance with a fresh id; returns the id, or nullopt on failure.
  std::optional<std::string> StartInstance();
  // Ids of the instances started and not yet seen to exit.
  std::set<std::string> LiveIds();
  std::optional<pid_t> PidOf(const std::string& id) const;

  // Sends `sig` to the instance's baton process, returning CLOCK_MONOTONIC ns read just
  // before kill(); nullopt when the instance is unknown or kill() failed.
  std::optional<int64_t> Signal(const std::string& id, int sig);
  // Waits up to `timeout` for the instance's baton to exit; its wait status, or nullopt.
  std::optional<int> WaitExit(const std::string& id, std::chrono::milliseconds timeout);

  // One `baton status --json`; nullopt when it could not be run or parsed.
  std::optional<GroupView> Status();

  // SIGTERM to every live baton, then SIGKILL to anything of ours still alive after
  // `patience`. Returns the descriptions ("pid 123 (baton)") of processes that were still
  // there after every baton had exited and so had to be killed: each one is a leak.
  std::vector<std::string> Shutdown(std::chrono::milliseconds patience);

 private:
  // Collects exit statuses of every child that has ended (batons, orphans, anything).
  void ReapAll();

  ClusterOptions options_;
  int next_index_ = 1;
  std::map<std::string, pid_t> live_;  // id → baton pid
  std::map<pid_t, int> exited_;        // baton pid → wait status
  bool shut_down_ = false;
};

}  // namespace baton::bench
