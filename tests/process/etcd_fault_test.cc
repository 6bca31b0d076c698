// What only etcd brings: a cluster whose members fail one at a time, or all at once, and
// fencing of the user's own etcd writes by the lease key's create_revision.

#include <signal.h>

#include <thread>

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
    std::string why;
    cluster_ = test_support::SharedEtcdCluster(&why);
    ASSERT_NE(cluster_, nullptr) << "the etcd cluster did not start: " << why;
    prefix_ = test_support::FreshEtcdPrefix("fault");
    UseStore(cluster_->Url() + "/" + prefix_);
  }

  void TearDown() override {
    // Whatever the test did to the cluster, the next test finds it whole.
    for (int i = 0; i < cluster_->size(); ++i) {
      cluster_->ResumeMember(i);
      cluster_->StartMember(i);
    }
    BatonGroupTest::TearDown();
  }

  // The user's fenced write: put `key` only while the group's lease key still has
  // create_revision `token`. Returns etcdctl's first line: SUCCESS or FAILURE.
  std::string FencedPut(int64_t token, const std::string& key, const std::string& value) {
    const std::string lease_key = prefix_ + "g/" + group_ + "/l/active/holder";
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

// The leader is killed while an instance is active: a new leader is elected within about a
// second, the active instance's renewals go to it, and its child runs on with its token.
TEST_F(EtcdFaultTest, KillingTheLeaderNeitherEndsTheActiveIntervalNorMakesASecondActive) {
  const ProbeEvent active = StartGroup({"a", "b", "c"});
  const std::optional<int> leader = cluster_->Leader();
  ASSERT_TRUE(leader) << "no etcd member says it leads";
  cluster_->KillMember(*leader);
  // Three ttl without the old leader: every renewal in that time went to the new one.
  EXPECT_TRUE(HoldsFor([&] { return IsAlive(active.pid); }, 3 * kTtl))
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
