// What only the etcd store promises beyond the conformance suite: TLS and authentication, on
// single-member clusters of their own (auth and TLS are cluster-wide settings).

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "baton/etcd_store.h"
#include "support/etcd_cluster.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "test_util.h"

namespace baton {
namespace {

using conformance::IsOk;
using test_support::EtcdCluster;
using test_support::EtcdClusterOptions;

MemberInfo Self(const std::string& id) {
  return MemberInfo{.id = id, .holder = id + "#1", .host = "h", .pid = 1, .version = "t"};
}

// Registers and takes the lease once: the store works end to end.
void ExpectUsable(Store& store) {
  ASSERT_TRUE(IsOk(store.Register("g", Self("a"), std::chrono::seconds(5))));
  HeartbeatRequest request;
  request.lease = {.group = "g"};
  request.self = Self("a");
  request.intent = LeaseIntent::kAcquire;
  request.member_ttl = request.lease_ttl = std::chrono::seconds(5);
  Result<HeartbeatReply> reply = store.Heartbeat(request);
  ASSERT_TRUE(IsOk(reply));
  EXPECT_TRUE(reply->acquired);
}

EtcdStoreOptions OptionsFor(const EtcdCluster& cluster) {
  EtcdStoreOptions options;
  options.endpoints = {cluster.Endpoint(0)};
  options.call_timeout = std::chrono::seconds(2);
  return options;
}

TEST(EtcdStoreTest, AnAuthenticatedUserWorksAndAWrongPasswordIsRefusedWithoutBeingShown) {
  if (auto skip = test_support::EtcdTestsSkipped()) GTEST_SKIP() << *skip;
  auto cluster = EtcdCluster::Start({.members = 1});
  cluster->Etcdctl({"user", "add", "root:s3cret-pw"});
  cluster->Etcdctl({"auth", "enable"});
  cluster->UseEtcdctlUser("root:s3cret-pw");

  EtcdStoreOptions options = OptionsFor(*cluster);
  options.user = "root";
  options.password = "s3cret-pw";
  auto store = OpenEtcdStore(options);
  ASSERT_TRUE(IsOk(store));
  ExpectUsable(**store);

  options.password = "wrong-pw";
  auto refused = OpenEtcdStore(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument) << refused.error().message();
  EXPECT_NE(refused.error().message().find("root"), std::string::npos);
  EXPECT_EQ(refused.error().message().find("wrong-pw"), std::string::npos);

  EtcdStoreOptions anonymous = OptionsFor(*cluster);
  auto no_user = OpenEtcdStore(anonymous);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().code(), ErrorCode::kInvalidArgument) << no_user.error().message();
}

TEST(EtcdStoreTest, TlsWorksWithTheClustersCaAndConnectsNowhereWithoutIt) {
  if (auto skip = test_support::EtcdTestsSkipped()) GTEST_SKIP() << *skip;
  test_support::TempDir certs("etcd-tls");
  const std::string script =
      "set -e; cd " + certs.path().string() +
      "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
      "-subj /CN=baton-test-ca 2>/dev/null"
      "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=127.0.0.1 2>/dev/null"
      "; printf 'subjectAltName=IP:127.0.0.1\\n' > ext"
      "; openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -days 2 -extfile ext 2>/dev/null";
  const auto made = test_support::RunCommand({"/bin/sh", "-c", script}, std::chrono::seconds(30));
  ASSERT_TRUE(made.Exited(0)) << made.Describe();

  auto cluster = EtcdCluster::Start({.members = 1,
                                     .cert_file = certs.File("server.crt"),
                                     .key_file = certs.File("server.key"),
                                     .ca_file = certs.File("ca.crt")});
  EtcdStoreOptions options = OptionsFor(*cluster);
  options.tls = true;
  options.ca_file = certs.File("ca.crt");
  auto store = OpenEtcdStore(options);
  ASSERT_TRUE(IsOk(store));
  ExpectUsable(**store);

  // The system's roots do not know the test CA: nothing is trusted, nothing answers.
  options.ca_file.clear();
  auto untrusted = OpenEtcdStore(options);
  ASSERT_TRUE(IsOk(untrusted));  // Unreachable now is not an error of the open...
  Result<GroupSnapshot> snapshot = (*untrusted)->Snapshot("g");
  ASSERT_FALSE(snapshot.ok());  // ... but every call fails, to be retried.
  EXPECT_TRUE(snapshot.error().retryable()) << snapshot.error().message();

  options.ca_file = certs.File("missing.crt");
  auto missing = OpenEtcdStore(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(missing.error().message().find("missing.crt"), std::string::npos);
}

}  // namespace
}  // namespace baton
