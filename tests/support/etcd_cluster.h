#pragma once

// A throwaway three-member etcd cluster for tests and benchmarks: real servers (Debian's
// etcd-server), never a mock.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

namespace baton::tools {
class FaultProxy;
}

namespace baton::test_support {

struct EtcdClusterOptions {
  std::string etcd = "/usr/bin/etcd";
  std::string etcdctl = "/usr/bin/etcdctl";
  int members = 3;
  // Raft timing, in ms. Shorter than etcd's defaults (100/1000) so that a killed leader is
  // replaced within a second, long enough that a busy 2-core machine does not force elections.
  int heartbeat_ms = 50;
  int election_ms = 500;
  // TLS for clients (https): the server's certificate and key, and the CA etcdctl trusts.
  std::string cert_file = {};
  std::string key_file = {};
  std::string ca_file = {};
  // Each member's peer port behind a fault proxy (tools/fault_proxy), so that one member can
  // be cut off from the others (PartitionMember) while its clients still reach it.
  bool peer_proxies = false;
};

// Starts `members` etcd servers on loopback at free ports, each in a directory of its own
// under a fresh temporary directory, and waits until the cluster has a leader. The
// destructor kills every member and removes the directory (BATON_TEST_KEEP_TMP=1 keeps it,
// with each member's log).
//
// Thread safety: one thread.
class EtcdCluster final {
 public:
  // Throws std::runtime_error saying what failed, with the end of a member's log.
  static std::unique_ptr<EtcdCluster> Start(const EtcdClusterOptions& options = {});
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3".
  std::string Endpoints() const;
  // "etcd://127.0.0.1:P1,…".
  std::string Url() const { return "etcd://" + Endpoints(); }
  std::string Endpoint(int member) const;
  int size() const { return static_cast<int>(members_.size()); }

  // The member that leads now, by `etcdctl endpoint status`; std::nullopt when none answers.
  std::optional<int> Leader() const;
  // SIGKILL of one member, and its start again (same data, same ports).
  void KillMember(int member);
  void StartMember(int member);
  // SIGSTOP / SIGCONT of one member: it stops answering without closing its connections.
  void PauseMember(int member);
  void ResumeMember(int member);
  // With peer_proxies: the member's raft traffic to and from the others is cut (connections
  // reset, new ones refused), both ways, until HealPartition(); clients still reach it, and
  // it answers what needs no leader. Throws std::logic_error without peer_proxies.
  void PartitionMember(int member);
  void HealPartition();
  // Runs etcdctl against the cluster; returns its stdout, throws on failure.
  std::string Etcdctl(const std::vector<std::string>& args) const;
  // From now on, etcdctl authenticates as `user` ("root:PASSWORD"), after `auth enable`.
  void UseEtcdctlUser(const std::string& user) { etcdctl_user_ = user; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::unique_ptr<tools::FaultProxy> peer_proxy;  // With peer_proxies.
    std::string id;  // As its peers send it in X-Server-From (hex); with peer_proxies.
    std::optional<Process> process;
  };
  // The port the others reach the member's raft at: its proxy's, or its own.
  int AdvertisedPeerPort(const Member& m) const;
  // Reads every member's id from `etcdctl member list`.
  void ReadMemberIds();
  explicit EtcdCluster(EtcdClusterOptions options);
  void Launch(int member, bool fresh);
  void WaitHealthy() const;

  std::vector<std::string> EtcdctlArgv(const std::string& endpoints) const;

  const EtcdClusterOptions options_;
  std::string etcdctl_user_;
  TempDir dir_;
  std::vector<Member> members_;
};

// "etcd tests skipped: BATON_SKIP_ETCD=1 is set" when it is, so a test can GTEST_SKIP with
// that message; std::nullopt otherwise.
std::optional<std::string> EtcdTestsSkipped();

// The one cluster a test binary shares (with peer_proxies), started at the first call and
// killed at exit; nullptr with `*why` set when it could not start.
EtcdCluster* SharedEtcdCluster(std::string* why);

// One fault proxy in front of each member's client port, in member order; `*endpoints` gets
// their "127.0.0.1:P1,…" list, for a store URL.
std::vector<std::unique_ptr<tools::FaultProxy>> ProxyEveryMember(const EtcdCluster& cluster,
                                                                 std::string* endpoints);

// A key prefix no other test of this run uses ("<label>/<pid>-<n>/").
std::string FreshEtcdPrefix(const std::string& label);

}  // namespace baton::test_support
