// The queue conformance suite on PostgreSQL: every handle is its own connection to the shared
// test cluster, in a schema of the test's own. As for the store suite, the database's clock
// cannot be moved, so the suite's 1 s is 100 ms and every advance also sleeps.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "baton/postgres_store.h"
#include "postgres_test_env.h"
#include "queue_conformance.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;

class PostgresQueues final : public QueueBackend {
 public:
  explicit PostgresQueues(std::string url) : url_(std::move(url)) {}

  std::unique_ptr<Queue> OpenQueue(Clock* clock) override {
    Result<std::unique_ptr<Queue>> queue = OpenPostgresQueue(Options(clock));
    if (!queue) throw std::runtime_error("OpenPostgresQueue: " + queue.error().message());
    return std::move(*queue);
  }
  std::unique_ptr<Store> OpenStore(Clock* clock) override {
    Result<std::unique_ptr<Store>> store = OpenPostgresStore(Options(clock));
    if (!store) throw std::runtime_error("OpenPostgresStore: " + store.error().message());
    return std::move(*store);
  }
  StoreTime time() const override {
    return StoreTime{.unit = milliseconds(100),
                     .sleeps = true,
                     .tolerance = milliseconds(100),
                     .tick = milliseconds(150)};
  }

 private:
  PostgresStoreOptions Options(Clock* clock) const {
    PostgresStoreOptions options;
    options.url = url_;
    options.schema = schema_;
    options.clock = clock;
    return options;
  }
  const std::string url_;
  const std::string schema_ = FreshSchemaName();
};

std::unique_ptr<QueueBackend> MakePostgresQueues(std::string* skip_reason) {
  bool skip = false;
  test_support::PgCluster* cluster = SharedPgCluster(skip_reason, &skip);
  if (cluster == nullptr) {
    if (!skip) ADD_FAILURE() << *skip_reason;
    return nullptr;
  }
  return std::make_unique<PostgresQueues>(cluster->Url(kSharedDatabase));
}

INSTANTIATE_TEST_SUITE_P(Postgres, QueueConformance,
                         ::testing::Values(QueueFactory{"postgres", &MakePostgresQueues}),
                         QueueFactoryName);

}  // namespace
}  // namespace baton::conformance
