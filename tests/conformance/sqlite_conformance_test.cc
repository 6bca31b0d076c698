// The store conformance suite on SQLite: every handle is its own connection to one file in a
// fresh directory, as separate processes on one host would be.

#include <memory>
#include <stdexcept>
#include <string>

#include "baton/sqlite_store.h"
#include "store_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

class SqliteBackend final : public StoreBackend {
 public:
  std::unique_ptr<Store> Open(Clock* clock) override {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    options.clock = clock;
    Result<std::unique_ptr<Store>> store = OpenSqliteStore(options);
    // Thrown, so the test fails with the message instead of using a null store.
    if (!store) throw std::runtime_error("OpenSqliteStore: " + store.error().message());
    return std::move(*store);
  }

 private:
  TempDir dir_;
};

std::unique_ptr<StoreBackend> MakeSqliteBackend(std::string* /*skip_reason*/) {
  return std::make_unique<SqliteBackend>();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreFactory{"sqlite", &MakeSqliteBackend}),
                         StoreFactoryName);

}  // namespace
}  // namespace baton::conformance
