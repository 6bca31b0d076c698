// The store conformance suite on PostgreSQL: every handle is its own connection to the shared
// test cluster, in a schema of the test's own, as processes on separate hosts would be.
//
// The database judges expiry by its own clock, which no test can move, so this instantiation
// scales the suite's time down (its 1 s is 100 ms, so a ttl is 1 s) and really sleeps through
// every advance, while the fake clock — the store's own clock for the contender's watch —
// advances by the same amounts.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "store_conformance.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;

class PostgresBackend final : public StoreBackend {
 public:
  explicit PostgresBackend(std::string url) : url_(std::move(url)) {}

  std::unique_ptr<Store> Open(Clock* clock) override {
    PostgresStoreOptions options;
    options.url = url_;
    options.schema = schema_;
    options.clock = clock;
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(options);
    // Thrown, so the test fails with the message instead of using a null store.
    if (!store) throw std::runtime_error("OpenPostgresStore: " + store.error().message());
    return std::move(*store);
  }

  StoreTime time() const override {
    return StoreTime{.unit = milliseconds(100),
                     .sleeps = true,
                     // Real time on a busy 2-core machine: a call can take tens of ms.
                     .tolerance = milliseconds(100),
                     .tick = milliseconds(200)};
  }

 private:
  const std::string url_;
  const std::string schema_ = FreshSchemaName();
};

std::unique_ptr<StoreBackend> MakePostgresBackend(std::string* skip_reason) {
  bool skip = false;
  test_support::PgCluster* cluster = SharedPgCluster(skip_reason, &skip);
  if (cluster == nullptr) {
    if (!skip) ADD_FAILURE() << *skip_reason;
    return nullptr;
  }
  return std::make_unique<PostgresBackend>(cluster->Url(kSharedDatabase));
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreFactory{"postgres", &MakePostgresBackend}),
                         StoreFactoryName);

}  // namespace
}  // namespace baton::conformance
