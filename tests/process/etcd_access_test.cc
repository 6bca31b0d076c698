// Reaching an etcd cluster: one that does not answer when baton starts, and one that wants a
// user and password, given by the config file or the environment and never shown.

#include "fault_proxy.h"
#include "group_fixture.h"
#include "support/etcd_cluster.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::LastStart;
using test_support::ReadFile;
using test_support::RunCommand;
using test_support::WaitFor;

class EtcdAccessTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    if (auto skip = test_support::EtcdTestsSkipped()) GTEST_SKIP() << *skip;
  }

  // The instance's output so far.
  std::string Output(const std::string& id) { return ReadFile(instance(id).output_path); }
};

// No member answers when `baton run` starts (every connection cut by its proxy): baton logs
// each failed try and goes on trying, and becomes active once the cluster answers.
TEST_F(EtcdAccessTest, AClusterUnreachableAtStartIsRetriedAndLoggedUntilItAnswers) {
  std::string why;
  test_support::EtcdCluster* cluster = test_support::SharedEtcdCluster(&why);
  ASSERT_NE(cluster, nullptr) << "the etcd cluster did not start: " << why;
  std::string endpoints;
  const auto proxies = test_support::ProxyEveryMember(*cluster, &endpoints);
  for (auto& proxy : proxies) proxy->Cut();
  UseStore("etcd://" + endpoints + "/" + test_support::FreshEtcdPrefix("access"));

  Start("a");
  EXPECT_TRUE(WaitFor([&] { return Output("a").find("(2 in a row)") != std::string::npos; },
                      3 * kTtl + kSlack))
      << "baton did not log its second failed try:\n"
      << Output("a");
  EXPECT_NE(Output("a").find("cannot register in etcd 127.0.0.1:"), std::string::npos);
  EXPECT_FALSE(LastStart(probe_log_)) << "the command ran without the store";
  EXPECT_TRUE(instance("a").process.Running()) << "baton gave up instead of retrying";

  for (auto& proxy : proxies) proxy->Heal();
  EXPECT_TRUE(WaitForGroup({"a"}, 2 * kTtl + kSlack)) << Output("a");
}

// A cluster with authentication on: the user and password from the config file work, a
// wrong password from BATON_ETCD_PASSWORD is exit 2 naming the user, and the password is
// shown nowhere (not in the error, not by `config check`).
TEST_F(EtcdAccessTest, CredentialsFromTheConfigFileWorkAndAWrongPasswordIsExit2NeverShown) {
  auto cluster = test_support::EtcdCluster::Start({.members = 1});
  cluster->Etcdctl({"user", "add", "root:s3cret-pw"});
  cluster->Etcdctl({"auth", "enable"});
  cluster->UseEtcdctlUser("root:s3cret-pw");
  UseStore(cluster->Url() + "/auth/");
  const std::string config = dir_.File("baton.toml");
  test_support::WriteFile(config, "etcd-user = \"root\"\netcd-password = \"s3cret-pw\"\n");

  Start("a", {.baton_args = {"--config", config}});
  ASSERT_TRUE(WaitFor([&] { return LastStart(probe_log_).has_value(); }, kTtl + kSlack))
      << "no instance became active with the config file's credentials:\n"
      << Output("a");

  const CommandResult status = RunCommand(
      {BATON_BIN, "status", "--store", store_, "--group", group_, "--config", config, "--json"});
  EXPECT_TRUE(status.Exited(0)) << status.Describe();
  EXPECT_NE(status.out.find("\"a\""), std::string::npos) << status.out;

  const CommandResult wrong =
      RunCommand({BATON_BIN, "status", "--store", store_, "--group", group_, "--config", config},
                 std::chrono::seconds(10), {"BATON_ETCD_PASSWORD=wrong-pw-123"});
  EXPECT_TRUE(wrong.Exited(2)) << wrong.Describe();
  EXPECT_NE(wrong.err.find("root"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("wrong-pw-123"), std::string::npos) << wrong.err;

  const CommandResult none =
      RunCommand({BATON_BIN, "status", "--store", store_, "--group", group_});
  EXPECT_TRUE(none.Exited(2)) << none.Describe();

  const CommandResult check = RunCommand({BATON_BIN, "config", "check", "run", "--config", config,
                                          "--store", store_, "--group", group_, "--", "true"});
  EXPECT_TRUE(check.Exited(0)) << check.Describe();
  EXPECT_NE(check.out.find("etcd-password"), std::string::npos) << check.out;
  EXPECT_EQ(check.out.find("s3cret-pw"), std::string::npos) << check.out;

  const CommandResult misplaced = RunCommand({BATON_BIN, "status", "--store", "sqlite:" + db_path_,
                                              "--group", group_, "--config", config});
  EXPECT_TRUE(misplaced.Exited(2)) << misplaced.Describe();
  EXPECT_NE(misplaced.err.find("etcd-user in " + config + " applies to an etcd store only"),
            std::string::npos)
      << misplaced.err;
}

}  // namespace
}  // namespace baton::process_test
