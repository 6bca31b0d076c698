#pragma once

// The group of `baton run` instances the benchmark drives, and every process under them. For
// the side-by-side comparison the instances can instead be `etcdctl lock --ttl` wrappers of
// the same child (Wrapper::kEtcdctlLock).
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

// What each instance runs around the child.
enum class Wrapper { kBaton, kEtcdctlLock };

struct ClusterOptions {
  Wrapper wrapper = Wrapper::kBaton;
  std::string baton;    // The baton binary (kBaton; `baton status` also needs it).
  std::string etcdctl;  // The etcdctl binary (kEtcdctlLock).
  // Passed as --store. For kEtcdctlLock an etcd:// URL: its hosts are the endpoints and its
  // path prefixes the lock name.
  std::string store_url;
  std::string group;                        // Passed as --group; for etcdctl the lock's name.
  std::string ttl;                          // Passed as --ttl, as written ("1s"); whole
                                            // seconds for etcdctl.
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

  // One `baton status --json`; nullopt when it could not be run or parsed (kBaton only).
  std::optional<GroupView> Status();
  // Whether the group is settled with `active` holding the lease: every live instance is
  // registered and no dead one is. For etcdctl lock, whose waiters are anonymous keys, this
  // is a count of the keys under the lock's prefix.
  bool Settled(const std::string& active);

  // Stops a process under the benchmark (a child that outlived its wrapper is one, inherited
  // as subreaper): SIGTERM, SIGKILL after `patience`. True once it is gone.
  bool StopDescendant(pid_t pid, std::chrono::milliseconds patience);

  // SIGTERM to every live baton (to every etcdctl and the command it runs: etcdctl ignores
  // SIGTERM while its command runs), then SIGKILL to anything of ours still alive after
  // `patience`. Returns the descriptions ("pid 123 (baton)") of processes that were still
  // there after every baton had exited and so had to be killed: each one is a leak.
  std::vector<std::string> Shutdown(std::chrono::milliseconds patience);

 private:
  // Collects exit statuses of every child that has ended (batons, orphans, anything).
  void ReapAll();
  std::vector<std::string> WrapperArgv(const std::string& id) const;
  // etcdctl's --endpoints and the lock's name, from the etcd:// store URL.
  std::string EtcdEndpoints() const;
  std::string LockName() const;

  ClusterOptions options_;
  int next_index_ = 1;
  std::map<std::string, pid_t> live_;  // id → baton pid
  std::map<pid_t, int> exited_;        // baton pid → wait status
  bool shut_down_ = false;
};

}  // namespace baton::bench
