#pragma once

// One test suite that every Store must pass, written only against baton::Store. A store's
// test file instantiates it with a factory, for example:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreFactory{"sqlite", &MakeSqliteBackend}),
//                            StoreFactoryName);

#include <gtest/gtest.h>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/store.h"

namespace baton::conformance {

// One backing store holding fresh, empty data for one test (a new database file, a new
// PostgreSQL database). Used from the test's threads; Open() may be called from several.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens another handle on this backing data with its own connection, as a separate
  // process would. Expiry is judged on `clock`'s timeline. Fails the test on error.
  virtual std::unique_ptr<Store> Open(Clock* clock) = 0;
};

struct StoreFactory {
  std::string name;  // For test names: letters, digits and '_' only.
  // Makes a fresh backing store, or returns nullptr with `*skip_reason` set when the store
  // cannot run here; the test then skips with that reason shown.
  std::function<std::unique_ptr<StoreBackend>(std::string* skip_reason)> make_backend;
};

// Prints the store's name where GoogleTest shows the parameter.
void PrintTo(const StoreFactory& factory, std::ostream* out);

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string StoreFactoryName(const ::testing::TestParamInfo<StoreFactory>& info);

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;

  // A new handle on the test's backing data, on the test's fake clock unless told otherwise.
  std::unique_ptr<Store> OpenStore(Clock* clock = nullptr);

  // An instance identity unique to this test run: id `name`, holder `name` + "#" + `nonce`.
  static MemberInfo Instance(const std::string& name, const std::string& nonce = "1");
  HeartbeatRequest Request(const MemberInfo& self, LeaseIntent intent, uint64_t token = 0) const;

  static LeaseKey Key(const std::string& group);

  // One heartbeat that must succeed.
  HeartbeatReply Beat(Store& store, const MemberInfo& self, LeaseIntent intent, uint64_t token = 0);

  const std::string group_ = "conformance";
  const Duration ttl_ = std::chrono::seconds(10);
  FakeClock clock_;
  std::unique_ptr<StoreBackend> backend_;
};

}  // namespace baton::conformance
