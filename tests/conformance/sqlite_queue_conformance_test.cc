// The queue conformance suite on SQLite: every handle is its own connection to one file in a
// fresh directory, as separate processes on one host would be.

#include <memory>
#include <stdexcept>
#include <string>

#include "baton/sqlite_store.h"
#include "queue_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

class SqliteQueues final : public QueueBackend {
 public:
  std::unique_ptr<Queue> OpenQueue(Clock* clock) override {
    Result<std::unique_ptr<Queue>> queue = OpenSqliteQueue(Options(clock));
    if (!queue) throw std::runtime_error("OpenSqliteQueue: " + queue.error().message());
    return std::move(*queue);
  }
  std::unique_ptr<Store> OpenStore(Clock* clock) override {
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(Options(clock));
    if (!store) throw std::runtime_error("OpenSqliteStore: " + store.error().message());
    return std::move(*store);
  }

 private:
  SqliteStoreOptions Options(Clock* clock) const {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    options.clock = clock;
    return options;
  }
  TempDir dir_;
};

std::unique_ptr<QueueBackend> MakeSqliteQueues(std::string* /*skip_reason*/) {
  return std::make_unique<SqliteQueues>();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, QueueConformance,
                         ::testing::Values(QueueFactory{"sqlite", &MakeSqliteQueues}),
                         QueueFactoryName);

}  // namespace
}  // namespace baton::conformance
