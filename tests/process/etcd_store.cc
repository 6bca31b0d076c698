// The store of baton_etcd_process_tests: a fresh key prefix per test on the binary's one
// three-member etcd cluster (tests/support/etcd_cluster.h).

#include "group_fixture.h"
#include "support/etcd_cluster.h"

namespace baton::process_test {
namespace {

void SetUpEtcd(BatonGroupTest& test) {
  if (auto skip = test_support::EtcdTestsSkipped()) GTEST_SKIP() << *skip;
  std::string why;
  test_support::EtcdCluster* cluster = test_support::SharedEtcdCluster(&why);
  if (cluster == nullptr) FAIL() << "the etcd cluster did not start: " << why;
  test.UseStore(cluster->Url() + "/" + test_support::FreshEtcdPrefix("proc"));
}

}  // namespace

StoreKind StoreUnderTest() { return {.name = "etcd", .set_up = &SetUpEtcd}; }

}  // namespace baton::process_test
