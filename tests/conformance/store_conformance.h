#pragma once

// One test suite that every Store must pass, written only against baton::Store. A store's
// test file instantiates it with a factory, for example:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//                            ::testing::Values(StoreFactory{"sqlite", &MakeSqliteBackend}),
//                            StoreFactoryName);

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/store.h"

namespace baton::conformance {

// How a store's expiry moves when a test moves time. The default fits a store that judges
// expiry on the handle's Clock (SQLite): the suite's durations are used as written, moving
// time is instant, and the store reports durations exactly. A store that judges expiry by a
// clock of its own that no test can move (PostgreSQL's) scales the durations down, sleeps
// through every advance in real time as well, and allows for the time its calls take.
struct StoreTime {
  std::chrono::nanoseconds unit = std::chrono::seconds(1);  // What the suite calls 1 s.
  bool sleeps = false;  // An advance also sleeps that long in real time.
  // How far from exact a duration the store reports may be: time passes during the calls,
  // so a time left comes out a little shorter and an age a little longer.
  std::chrono::nanoseconds tolerance{0};
  // The least advance that must tell "not expired yet" from "expired" at an expiry.
  std::chrono::nanoseconds tick{1};
  // How long after its ttl an expiry may take effect: etcd revokes expired leases in a sweep
  // every 500 ms, then through Raft. Tests that wait for an expiry wait this much longer.
  std::chrono::nanoseconds expiry_lag{0};
};

// What the suite allows a store to do its own way. The defaults are the SQL stores'.
struct StoreTraits {
  // A lease's tokens are 1, 2, 3 …. Otherwise they only grow, with gaps (etcd's revisions,
  // shared by every key): the suite then checks their order, not their values.
  bool dense_tokens = true;
  // LeaseView::renewals is counted, and a free lease reports the last holder's token.
  bool counts_renewals = true;
  // A holder may renew an expired lease that nobody took (a compare-and-set on holder and
  // token). etcd deletes the key when the holder's etcd lease expires: it may not.
  bool renews_after_expiry = true;
  // Heartbeats remove the expired member rows and report them; etcd removes them itself.
  bool reports_reaped = true;
};

// One backing store holding fresh, empty data for one test (a new database file, a new
// PostgreSQL schema). Used from the test's threads; Open() may be called from several.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens another handle on this backing data with its own connection, as a separate
  // process would. Expiry is judged on `clock`'s timeline, or for a store with a clock of
  // its own, with `clock` as the handle's local clock. Fails the test on error.
  virtual std::unique_ptr<Store> Open(Clock* clock) = 0;
  // How this store's expiry moves with the test's time.
  virtual StoreTime time() const { return {}; }
  virtual StoreTraits traits() const { return {}; }
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

  // The ordinal of `token` among the tokens of `lease` this test has seen (1 for the first),
  // recording it when it is new; with dense tokens, the token itself. A new token smaller
  // than one seen before gives -1, which no expectation matches.
  int64_t N(uint64_t token, const std::string& lease = "");
  // The token of ordinal `n` of `lease` (N's inverse): n itself with dense tokens.
  uint64_t T(int64_t n, const std::string& lease = "") const;

  // One heartbeat that must succeed; records the token it reports (N).
  HeartbeatReply Beat(Store& store, const MemberInfo& self, LeaseIntent intent, uint64_t token = 0);
  // An observing heartbeat by a contender that will later take over an expired lease. A store
  // may require the contender to have watched the lease unchanged for its ttl on its own clock
  // first (SPEC 2.5, PostgreSQL), so every takeover in this suite is watched from the start.
  void Watch(Store& store, const MemberInfo& self) { Beat(store, self, LeaseIntent::kObserve); }

  // `n` of the suite's seconds: real seconds unless the store scales time (StoreTime::unit).
  Duration Seconds(int64_t n) const { return time_.unit * n; }
  // The least advance that tells "not yet" from "now" at an expiry (1 ns on the fake clock).
  Duration Tick() const { return time_.tick; }
  // Moves the test's time, and with it the store's, by `d`.
  void Advance(Duration d);
  // Whether a duration the store reported is `expected`, within the store's tolerance.
  ::testing::AssertionResult About(Duration actual, Duration expected) const;

  const std::string group_ = "conformance";
  StoreTime time_;
  StoreTraits traits_;
  std::map<std::string, std::vector<uint64_t>> tokens_;  // Seen, per lease, in order.
  Duration ttl_ = std::chrono::seconds(10);              // Seconds(10), set by SetUp().
  FakeClock clock_;
  std::unique_ptr<StoreBackend> backend_;
};

}  // namespace baton::conformance
