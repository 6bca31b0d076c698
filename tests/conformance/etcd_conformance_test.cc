// The store conformance suite on etcd: one three-member cluster for the binary, a key prefix
// of each test's own, every handle its own client, as processes on separate hosts would be.
//
// etcd judges expiry on its leader's clock, in whole seconds, and revokes expired leases
// in a sweep every 500 ms: this instantiation scales the suite's time so that its ttl is
// 3 s, really sleeps through every advance, and allows for that sweep and the seconds.

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "baton/etcd_store.h"
#include "store_conformance.h"
#include "support/etcd_cluster.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;

class EtcdBackend final : public StoreBackend {
 public:
  explicit EtcdBackend(std::vector<std::string> endpoints)
      : endpoints_(std::move(endpoints)), prefix_(test_support::FreshEtcdPrefix("conformance")) {}

  std::unique_ptr<Store> Open(Clock* clock) override {
    EtcdStoreOptions options;
    options.endpoints = endpoints_;
    options.prefix = prefix_;
    options.clock = clock;
    Result<std::unique_ptr<Store>> store = OpenEtcdStore(options);
    if (!store) throw std::runtime_error("OpenEtcdStore: " + store.error().message());
    return std::move(*store);
  }

  StoreTime time() const override {
    return StoreTime{.unit = milliseconds(300),
                     .sleeps = true,
                     .tolerance = milliseconds(1000),
                     .tick = milliseconds(800),
                     .expiry_lag = milliseconds(1000)};
  }

  StoreTraits traits() const override {
    return StoreTraits{.dense_tokens = false,
                       .counts_renewals = false,
                       .renews_after_expiry = false,
                       .reports_reaped = false};
  }

 private:
  const std::vector<std::string> endpoints_;
  const std::string prefix_;
};

std::unique_ptr<StoreBackend> MakeEtcdBackend(std::string* skip_reason) {
  if (auto skip = test_support::EtcdTestsSkipped()) {
    *skip_reason = *skip;
    return nullptr;
  }
  test_support::EtcdCluster* cluster = test_support::SharedEtcdCluster(skip_reason);
  if (cluster == nullptr) {
    ADD_FAILURE() << *skip_reason;
    return nullptr;
  }
  std::vector<std::string> endpoints;
  for (int i = 0; i < cluster->size(); ++i) endpoints.push_back(cluster->Endpoint(i));
  return std::make_unique<EtcdBackend>(std::move(endpoints));
}

INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformance,
                         ::testing::Values(StoreFactory{"etcd", &MakeEtcdBackend}),
                         StoreFactoryName);

}  // namespace
}  // namespace baton::conformance
