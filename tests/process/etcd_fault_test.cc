// What only etcd brings: a cluster whose members fail one at a time, or all at once, and
// fencing of the user's own etcd writes by the lease key's create_revision.

#include <signal.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "fault_proxy.h"
#include "group_fixture.h"
#include "support/etcd_cluster.h"

namespace baton::process_test {
namespace {

using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::WaitFor;

class EtcdFaultTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    if (auto skip = test_support::EtcdTestsSkipped()) GTEST_SKIP() << *skip;
    std::string why;
    cluster_ = test_support::SharedEtcdCluster(&why);
    ASSERT_NE(cluster_, nullptr) << "the etcd cluster did not start: " << why;
    prefix_ = test_support::FreshEtcdPrefix("fault");
    UseStore(cluster_->Url() + "/" + prefix_);
  }

  void TearDown() override {
    // Whatever the test did to the cluster, the next test finds it whole.
    for (int i = 0; cluster_ != nullptr && i < cluster_->size(); ++i) {
      cluster_->HealPartition();
      cluster_->ResumeMember(i);
      cluster_->StartMember(i);
    }
    BatonGroupTest::TearDown();
  }

  // The user's fenced write: put `key` only while the group's lease key still has
  // create_revision `token`. Returns etcdctl's first line: SUCCESS or FAILURE.
  std::string FencedPut(int64_t token, const std::string& key, const std::string& value) {
    // The key `baton status` names for fencing, and where SPEC 8 puts it.
    const std::string lease_key = Status().json()["lease"].value("key", "");
    EXPECT_EQ(lease_key, prefix_ + "g/" + group_ + "/l/active/holder");
    // etcdctl txn reads three blocks, each ended by an empty line: the comparisons, the
    // requests on success, the requests on failure (none).
    const std::string script = "create(\"" + lease_key + "\") = \"" + std::to_string(token) +
                               "\"\n\nput " + key + " " + value + "\n\n\n";
    const std::string path = dir_.File("txn");
    test_support::WriteFile(path, script);
    const test_support::CommandResult r = test_support::RunCommand(
        {"/bin/sh", "-c",
         "ETCDCTL_API=3 etcdctl --endpoints=" + cluster_->Endpoints() + " txn < " + path});
    EXPECT_TRUE(r.Exited(0)) << r.Describe();
    return r.out.substr(0, r.out.find('\n'));
  }

  std::string Get(const std::string& key) {
    return cluster_->Etcdctl({"get", "--print-value-only", key});
  }

  test_support::EtcdCluster* cluster_ = nullptr;
  std::string prefix_;
};

// The leader is killed while an instance is active: a new leader is elected, the active
// instance's renewals go to it, and its child runs on with its token. The cluster has no
// leader for up to about three election timeouts (the followers notice, then vote: here up
// to 1.5 s), so the ttl must leave that much between a renewal and the deadline − grace:
// with 6 s, a renewal every second, 0.5 s margin and 1 s grace, 3.5 s do.
TEST_F(EtcdFaultTest, KillingTheLeaderNeitherEndsTheActiveIntervalNorMakesASecondActive) {
  timing_ = {.ttl = milliseconds(6000),
             .heartbeat = milliseconds(1000),
             .margin = milliseconds(500),
             .grace = milliseconds(1000)};
  const ProbeEvent active = StartGroup({"a", "b", "c"});
  const std::optional<int> leader = cluster_->Leader();
  ASSERT_TRUE(leader) << "no etcd member says it leads";
  cluster_->KillMember(*leader);
  // Two ttl without the old leader: every renewal in that time went to the new one.
  EXPECT_TRUE(HoldsFor([&] { return IsAlive(active.pid); }, 2 * timing_.ttl))
      << "the active child was stopped: a renewal did not reach the new leader in time";
  EXPECT_EQ(Events("start").size(), 1u) << "another child started";
  EXPECT_EQ(Status().active(), active.instance);
  EXPECT_EQ(Status().lease_token(), active.token);
  cluster_->StartMember(*leader);
}

// No member answers for longer than the ttl: the active instance cannot renew and stops its
// child by its deadline, as on any store; once the cluster is back, one instance is active
// again with a new token.
TEST_F(EtcdFaultTest, AClusterThatStopsAnsweringStopsTheActiveChildByTheDeadline) {
  const ProbeEvent active = StartGroup({"a", "b"});
  const auto paused_at = std::chrono::steady_clock::now();
  for (int i = 0; i < cluster_->size(); ++i) cluster_->PauseMember(i);
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(active.pid); }, kTtl + kSlack))
      << "the child ran on past the deadline with no store answering";
  const auto stopped_after = std::chrono::steady_clock::now() - paused_at;
  EXPECT_LE(stopped_after, kTtl + kSlack);
  std::this_thread::sleep_until(paused_at + 2 * kTtl);
  for (int i = 0; i < cluster_->size(); ++i) cluster_->ResumeMember(i);
  const std::optional<ProbeEvent> next = WaitForStartAfter(active.token, 3 * kTtl + kSlack);
  ASSERT_TRUE(next) << "no instance became active once the cluster answered again";
  EXPECT_GT(next->token, active.token);
}

// Each member is reached through a fault proxy; the one partitioned (its connections cut,
// or stalled without a word) costs the active instance a retry on another member, not its
// lease.
TEST_F(EtcdFaultTest, OneMemberCutOffFromTheInstancesCostsNoLease) {
  std::string endpoints;
  const auto proxies = test_support::ProxyEveryMember(*cluster_, &endpoints);
  UseStore("etcd://" + endpoints + "/" + prefix_);
  const ProbeEvent active = StartGroup({"a", "b"});
  proxies[0]->Cut();
  EXPECT_TRUE(HoldsFor([&] { return IsAlive(active.pid); }, 2 * kTtl))
      << "the active child was stopped while one member was cut off";
  proxies[0]->Heal();
  proxies[1]->Stall();
  EXPECT_TRUE(HoldsFor([&] { return IsAlive(active.pid); }, 2 * kTtl))
      << "the active child was stopped while one member was stalled";
  proxies[1]->Heal();
  EXPECT_EQ(Events("start").size(), 1u) << "another child started";
  EXPECT_EQ(Status().active(), active.instance);
}

// A follower cut off from the other members (its raft traffic through the cluster's peer
// proxies), while the instances reach it first: it cannot serve a linearizable read or
// forward a keep-alive, so the instances' calls move on to the members that have quorum,
// and the active instance keeps its lease.
TEST_F(EtcdFaultTest, AFollowerCutOffFromItsPeersCostsNoLease) {
  const std::optional<int> leader = cluster_->Leader();
  ASSERT_TRUE(leader) << "no etcd member says it leads";
  const int follower = (*leader + 1) % cluster_->size();
  std::string endpoints = cluster_->Endpoint(follower);
  for (int i = 0; i < cluster_->size(); ++i) {
    if (i != follower) endpoints += "," + cluster_->Endpoint(i);
  }
  UseStore("etcd://" + endpoints + "/" + prefix_);
  const ProbeEvent active = StartGroup({"a", "b"});

  cluster_->PartitionMember(follower);
  // The partition is real: the follower cannot reach a quorum for a linearizable read.
  const test_support::CommandResult cut_off =
      test_support::RunCommand({"/usr/bin/etcdctl", "--endpoints=" + cluster_->Endpoint(follower),
                                "--command-timeout=1s", "get", "probe"},
                               std::chrono::seconds(5), {"ETCDCTL_API=3"});
  EXPECT_FALSE(cut_off.Exited(0)) << "the partitioned member still served a linearizable read";
  EXPECT_TRUE(HoldsFor([&] { return IsAlive(active.pid); }, 2 * kTtl))
      << "the active child was stopped while one follower was cut off from its peers";
  EXPECT_EQ(Events("start").size(), 1u) << "another child started";
  const StatusView during = Status();
  EXPECT_EQ(during.active(), active.instance) << during.Describe();
  EXPECT_EQ(during.lease_token(), active.token) << during.Describe();
  // Back from the partition with a higher raft term, the follower makes the leader step down
  // (etcd 3.4 has no pre-vote by default): an election, which the group rides out (the
  // fixture checks that no two children overlapped).
  cluster_->HealPartition();
  EXPECT_TRUE(WaitFor([&] { return Status().active().has_value(); }, 2 * kTtl + kSlack));
}

// What etcd before 3.4.28 does when a stalled leader comes back (etcd-io/etcd#15247): it
// revokes a lease that its holder renews. Here the active baton is paused (its guardian still
// stops the child by the deadline) and its etcd lease revoked by hand: the key vanishes
// long before etcd's own expiry. The passive instance must not start its child while the
// old one may still run; with the guard switched off it does, and the probes overlap.
class EarlyRevocationTest : public EtcdFaultTest, public ::testing::WithParamInterface<bool> {};

TEST_P(EarlyRevocationTest, ALeaseRevokedEarlyIsTakenOnlyOnceItsHoldersDeadlineHasPassed) {
  const bool guarded = GetParam();
  Start("a");
  const std::optional<ProbeEvent> active = WaitForGroup({"a"});
  ASSERT_TRUE(active);
  Start("b", {.baton_env =
                  guarded ? std::vector<std::string>{}
                          : std::vector<std::string>{"BATON_UNSAFE_ETCD_TRUST_EARLY_VANISH=1"}});
  ASSERT_TRUE(WaitForGroup({"a", "b"}));
  // b has read a's remaining time at least once (one heartbeat).
  std::this_thread::sleep_for(2 * kHeartbeat);

  const std::string lease_key = Status().json()["lease"].value("key", "");
  const auto json = nlohmann::json::parse(cluster_->Etcdctl({"get", lease_key, "-w", "json"}));
  const int64_t etcd_lease = json.at("kvs").at(0).at("lease").get<int64_t>();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(etcd_lease));
  instance("a").process.Stop();
  cluster_->Etcdctl({"lease", "revoke", hex});

  const std::optional<ProbeEvent> next = WaitForStartAfter(active->token, 2 * kTtl + kSlack);
  ASSERT_TRUE(next) << "b never took the lease";
  const bool old_child_alive = IsAlive(active->pid);
  instance("a").process.Continue();
  if (guarded) {
    EXPECT_FALSE(old_child_alive) << "b started while a's child could still run";
  } else {
    EXPECT_TRUE(old_child_alive) << "without the guard b should have started at once";
    expect_overlap_ = true;
  }
}

INSTANTIATE_TEST_SUITE_P(, EarlyRevocationTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? std::string("Guarded") : std::string("Unguarded");
                         });

// `migrate` and `status` on etcd, and the queue commands refused with exit 2.
TEST_F(EtcdFaultTest, MigrateAndStatusWorkAndTheQueueCommandsAreRefused) {
  const std::string store = "--store=" + store_;
  auto migrate = test_support::RunCommand({BATON_BIN, "migrate", store});
  EXPECT_TRUE(migrate.Exited(0)) << migrate.Describe();
  EXPECT_NE(migrate.out.find("schema is now at version 1"), std::string::npos) << migrate.out;
  auto again = test_support::RunCommand({BATON_BIN, "migrate", store});
  EXPECT_TRUE(again.Exited(0)) << again.Describe();
  auto empty = test_support::RunCommand({BATON_BIN, "status", store, "--group", group_});
  EXPECT_TRUE(empty.Exited(3)) << empty.Describe();
  EXPECT_NE(empty.out.find("fence your own writes with create(\"" + prefix_ + "g/" + group_ +
                           "/l/active/holder\") = \"TOKEN\""),
            std::string::npos)
      << empty.out;
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {BATON_BIN, "work", store, "--group", group_, "--queue", "q", "--", "true"},
           {BATON_BIN, "schedule", store, "--group", group_, "--queue", "q", "--tenants-file",
            "/dev/null"},
           {BATON_BIN, "enqueue", store, "--group", group_, "--queue", "q", "--", "t"},
           {BATON_BIN, "queue", "stats", store, "--group", group_, "--queue", "q"}}) {
    auto refused = test_support::RunCommand(argv);
    EXPECT_TRUE(refused.Exited(2)) << argv[1] << ": " << refused.Describe();
    EXPECT_NE(refused.err.find("queues need an SQL store"), std::string::npos)
        << argv[1] << ": " << refused.err;
  }
}

// The README's fencing example: a write fenced by the token succeeds while the token holds
// the lease and fails once another instance has taken it.
TEST_F(EtcdFaultTest, AWriteFencedByTheTokenFailsOnceTheLeaseHasMoved) {
  const ProbeEvent first = StartGroup({"a", "b"});
  const std::string key = prefix_ + "user/report";
  EXPECT_EQ(FencedPut(first.token, key, "by-a"), "SUCCESS");
  EXPECT_EQ(Get(key), "by-a\n");

  instance(first.instance).process.Kill();
  const std::optional<ProbeEvent> next = WaitForStartAfter(first.token, kTtl + kSlack);
  ASSERT_TRUE(next);
  EXPECT_EQ(FencedPut(first.token, key, "late-write"), "FAILURE");
  EXPECT_EQ(Get(key), "by-a\n") << "a write fenced by a dead token went through";
  EXPECT_EQ(FencedPut(next->token, key, "by-next"), "SUCCESS");
  EXPECT_EQ(Get(key), "by-next\n");
}

}  // namespace
}  // namespace baton::process_test
