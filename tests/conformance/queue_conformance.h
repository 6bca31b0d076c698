#pragma once

// One test suite that every Queue must pass, written only against baton::Queue (and
// baton::Store for the fenced offers). A store's test file instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, QueueConformance,
//                            ::testing::Values(QueueFactory{"sqlite", &MakeSqliteQueues}),
//                            QueueFactoryName);

#include <gtest/gtest.h>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/store.h"
#include "store_conformance.h"

namespace baton::conformance {

// One backing store holding fresh, empty data for one test. Open() may be called from
// several threads.
class QueueBackend {
 public:
  virtual ~QueueBackend() = default;
  // A new queue handle with its own connection, as a separate process would have; expiry is
  // judged on `clock` (SQLite) or with `clock` as the handle's local clock (PostgreSQL).
  virtual std::unique_ptr<Queue> OpenQueue(Clock* clock) = 0;
  // A lease store on the same data, for fenced offers.
  virtual std::unique_ptr<Store> OpenStore(Clock* clock) = 0;
  // How this store's expiry moves with the test's time (see store_conformance.h).
  virtual StoreTime time() const { return {}; }
};

struct QueueFactory {
  std::string name;  // Letters, digits and '_' only.
  std::function<std::unique_ptr<QueueBackend>(std::string* skip_reason)> make_backend;
};

void PrintTo(const QueueFactory& factory, std::ostream* out);
std::string QueueFactoryName(const ::testing::TestParamInfo<QueueFactory>& info);

class QueueConformance : public ::testing::TestWithParam<QueueFactory> {
 protected:
  void SetUp() override;

  // A new handle on the test's data, on the test's fake clock unless told otherwise.
  std::unique_ptr<Queue> OpenQueue(Clock* clock = nullptr);

  // Offers one item per tenant; fails the test unless every item got an id.
  std::vector<uint64_t> OfferTenants(Queue& queue, const std::vector<std::string>& tenants,
                                     bool unique = false);
  // One item with these settings; returns its id (0 when skipped).
  uint64_t OfferOne(Queue& queue, const OfferItem& item, bool unique = false);
  ClaimRequest Request(int max_items = 1, int max_attempts = 5) const;
  // A claim that must succeed.
  ClaimReply Claim(Queue& queue, int max_items = 1, int max_attempts = 5);
  // A claim that must return exactly one item.
  ClaimedItem ClaimOne(Queue& queue, int max_attempts = 5);
  ClaimOutcome Ack(Queue& queue, const ClaimedItem& item);
  ClaimOutcome FailRetry(Queue& queue, const ClaimedItem& item, Duration retry_after,
                         bool dead_now = false);
  std::vector<ItemView> Items(Queue& queue, std::optional<ItemState> state = std::nullopt);

  // `n` of the suite's seconds (scaled on a store whose clock the test cannot move).
  Duration Seconds(int64_t n) const { return time_.unit * n; }
  Duration Tick() const { return time_.tick; }
  void Advance(Duration d);
  ::testing::AssertionResult About(Duration actual, Duration expected) const;

  const QueueKey key_{.group = "conformance", .queue = "work"};
  StoreTime time_;
  Duration visibility_{0};  // Seconds(3), set by SetUp().
  FakeClock clock_;
  std::unique_ptr<QueueBackend> backend_;
  std::unique_ptr<Queue> queue_;  // The test's first handle.
};

}  // namespace baton::conformance
