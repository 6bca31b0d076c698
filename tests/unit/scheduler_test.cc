// The scheduler on a FakeClock and a real SQLite file: tenant lists (comments, duplicates,
// invalid ids), the round timing kept in the store (a new holder waits for last + every, a
// last round in the future is a clock step), the token fence, and stopping between batches.

#include "baton/scheduler.h"

#include <gtest/gtest.h>

#include <functional>

#include "baton/sqlite_store.h"
#include "baton/store.h"
#include "support/temp_dir.h"

namespace baton {
namespace {

using std::chrono::seconds;

TEST(TenantLinesTest, SkipsBlankLinesAndCommentsAndKeepsEverythingElse) {
  EXPECT_EQ(TenantLines("acme\n\n# a comment\r\n  spaced id \r\nglobex", true),
            (std::vector<std::string>{"acme", "  spaced id ", "globex"}));
  EXPECT_EQ(TenantLines("#not a comment\n\nx\n", false),
            (std::vector<std::string>{"#not a comment", "x"}));
  EXPECT_TRUE(TenantLines("", true).empty());
}

TEST(CleanTenantsTest, DropsDuplicatesAndInvalidIdsKeepingTheOrder) {
  const TenantList list = CleanTenants({"b", "a", "b", "", std::string(201, 'x'), "tab\there",
                                        "bad\xff", "a", "ünï ✓", "$(rm -rf /)"});
  EXPECT_EQ(list.tenants, (std::vector<std::string>{"b", "a", "ünï ✓", "$(rm -rf /)"}));
  EXPECT_EQ(list.duplicates, 2u);
  ASSERT_EQ(list.invalid.size(), 4u);
  EXPECT_NE(list.invalid[0].find("id 4"), std::string::npos) << list.invalid[0];
  EXPECT_NE(list.invalid[2].find("tab?here"), std::string::npos)
      << "a control character is shown as ?: " << list.invalid[2];
}

// A source the test fills; `on_list` runs inside List().
class FakeSource final : public TenantSource {
 public:
  Result<std::vector<std::string>> List(std::stop_token /*stop*/) override {
    ++calls;
    if (on_list) on_list();
    if (fail) return Error(ErrorCode::kUnavailable, "the source failed");
    return ids;
  }
  std::string Describe() const override { return "fake"; }

  std::vector<std::string> ids;
  bool fail = false;
  std::function<void()> on_list;
  int calls = 0;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    options.clock = &clock_;
    auto store = OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.error().message();
    store_ = std::move(*store);
    auto queue = OpenSqliteQueue(options);
    ASSERT_TRUE(queue.ok()) << queue.error().message();
    queue_ = std::move(*queue);
    for (int i = 0; i < 7; ++i) source_.ids.push_back("tenant-" + std::to_string(i));
  }

  // Takes the scheduler lease for `id`; returns its token (0: not taken).
  uint64_t Acquire(const std::string& id) {
    HeartbeatRequest request;
    request.lease = {"g", SchedulerLeaseName("q")};
    request.self = {id, id + "#1", "host", 1, "test"};
    request.intent = LeaseIntent::kAcquire;
    request.lease_ttl = std::chrono::hours(1);
    auto reply = store_->Heartbeat(request);
    EXPECT_TRUE(reply.ok()) << reply.error().message();
    return reply && reply->held ? reply->lease.token : 0;
  }
  void Release(const std::string& id, uint64_t token) {
    ASSERT_TRUE(store_->Release({"g", SchedulerLeaseName("q")}, id + "#1", token).ok());
  }

  SchedulerOptions Options() {
    SchedulerOptions options;
    options.queue = key_;
    options.every = seconds(10);
    options.batch = 3;
    options.clock = &clock_;
    return options;
  }
  QueueStats Stats() {
    auto stats = queue_->Stats(key_);
    EXPECT_TRUE(stats.ok());
    return stats ? *stats : QueueStats{};
  }

  test_support::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Queue> queue_;
  FakeSource source_;
  const QueueKey key_{"g", "q"};
  std::stop_source stop_;
};

TEST_F(SchedulerTest, ARoundOffersEachTenantOnceInFencedBatchesAndTheNextWaitsForEvery) {
  const uint64_t token = Acquire("a");
  ASSERT_NE(token, 0u);
  source_.ids.push_back("tenant-0");  // A duplicate.
  SchedulerOptions options = Options();
  options.item_ttl = std::chrono::minutes(1);  // Still pending at the next round.
  Scheduler scheduler(*queue_, options, source_);
  RoundReport report;
  const TimePoint start = clock_.Now();
  EXPECT_EQ(scheduler.Step(token, stop_.get_token(), &report), start + seconds(10));
  EXPECT_TRUE(report.ran);
  EXPECT_FALSE(report.since_last.has_value()) << "the queue's first round";
  EXPECT_EQ(report.listed, 8u);
  EXPECT_EQ(report.duplicates, 1u);
  EXPECT_EQ(report.offered, 7u);
  EXPECT_EQ(report.batches, 3u) << "7 tenants in batches of 3";
  EXPECT_EQ(Stats().pending, 7);

  // Too early, whoever asks: the store kept the round's time.
  clock_.Advance(seconds(4));
  EXPECT_EQ(scheduler.Step(token, stop_.get_token(), &report), clock_.Now() + seconds(6));
  EXPECT_FALSE(report.ran);
  EXPECT_EQ(source_.calls, 1) << "no listing before the round is due";

  // Due: tenants whose items still wait get none (unique), the others one each.
  clock_.Advance(seconds(6));
  source_.ids.push_back("new");
  EXPECT_EQ(scheduler.Step(token, stop_.get_token(), &report), clock_.Now() + seconds(10));
  EXPECT_TRUE(report.ran);
  EXPECT_EQ(*report.since_last, seconds(10));
  EXPECT_EQ(report.offered, 1u);
  EXPECT_EQ(report.skipped, 7u);
  EXPECT_EQ(scheduler.counters().rounds, 2u);
}

TEST_F(SchedulerTest, ANewHolderWaitsUntilTheLastRoundPlusEveryAndTheOldTokenIsFencedOut) {
  const uint64_t old_token = Acquire("a");
  Scheduler a(*queue_, Options(), source_);
  RoundReport report;
  a.Step(old_token, stop_.get_token(), &report);
  ASSERT_TRUE(report.ran);
  Release("a", old_token);
  clock_.Advance(seconds(3));
  const uint64_t new_token = Acquire("b");
  ASSERT_GT(new_token, old_token);

  Scheduler b(*queue_, Options(), source_);
  EXPECT_EQ(b.Step(new_token, stop_.get_token(), &report), clock_.Now() + seconds(7))
      << "the new holder waits for last + every";
  EXPECT_FALSE(report.ran);

  clock_.Advance(seconds(7));
  EXPECT_EQ(a.Step(old_token, stop_.get_token(), &report), clock_.Now() + seconds(1))
      << "a deposed scheduler tries again after its retry";
  EXPECT_TRUE(report.fenced_out);
  EXPECT_FALSE(report.ran);
  EXPECT_EQ(a.counters().fenced_out, 1u);
  b.Step(new_token, stop_.get_token(), &report);
  EXPECT_TRUE(report.ran);
}

// What a step publishes: a round with the items it offered; a refused token as fenced out.
class KindsSink final : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    kinds.push_back(e.kind);
    counts.push_back(e.count);
    EXPECT_EQ(e.group, "g");
    EXPECT_EQ(e.name, "q");
  }
  std::vector<EventKind> kinds;
  std::vector<int64_t> counts;
};

TEST_F(SchedulerTest, RoundsAndRefusedTokensArePublished) {
  const uint64_t old_token = Acquire("a");
  KindsSink sink;
  SchedulerOptions options = Options();
  options.events = &sink;
  Scheduler a(*queue_, options, source_);
  a.Step(old_token, stop_.get_token());
  ASSERT_EQ(sink.kinds, std::vector<EventKind>{EventKind::kRound});
  EXPECT_EQ(sink.counts[0], 7);
  a.Step(old_token, stop_.get_token());
  EXPECT_EQ(sink.kinds.size(), 1u) << "a round not yet due is no event";
  Release("a", old_token);
  ASSERT_GT(Acquire("b"), old_token);
  clock_.Advance(seconds(10));
  a.Step(old_token, stop_.get_token());
  EXPECT_EQ(sink.kinds, (std::vector<EventKind>{EventKind::kRound, EventKind::kFencedOut}));
}

TEST_F(SchedulerTest, ALastRoundInTheFutureIsAClockStepThatDelaysTheNextRoundByOneEvery) {
  const uint64_t token = Acquire("a");
  Scheduler scheduler(*queue_, Options(), source_);
  RoundReport report;
  scheduler.Step(token, stop_.get_token(), &report);
  ASSERT_TRUE(report.ran);
  clock_.Set(clock_.Now() - seconds(60));  // Only a fake CLOCK_BOOTTIME can go back.
  EXPECT_EQ(scheduler.Step(token, stop_.get_token(), &report), clock_.Now() + seconds(10));
  EXPECT_FALSE(report.ran);
  EXPECT_LT(*report.since_last, Duration::zero());
  EXPECT_EQ(scheduler.counters().clock_steps, 1u);
  clock_.Advance(seconds(10));
  scheduler.Step(token, stop_.get_token(), &report);
  EXPECT_TRUE(report.ran) << "scheduling goes on after the step";
}

TEST_F(SchedulerTest, ItemsExpireAfterTheItemTtlAndTheNextRoundOffersTheirTenantsAgain) {
  const uint64_t token = Acquire("a");
  SchedulerOptions options = Options();
  options.item_ttl = seconds(5);
  Scheduler scheduler(*queue_, options, source_);
  RoundReport report;
  scheduler.Step(token, stop_.get_token(), &report);
  ASSERT_EQ(report.offered, 7u);
  clock_.Advance(seconds(10));
  scheduler.Step(token, stop_.get_token(), &report);
  EXPECT_EQ(report.offered, 7u) << "the expired items were replaced";
  EXPECT_EQ(Stats().expired_total, 7);
  EXPECT_EQ(Stats().pending, 7);
}

TEST_F(SchedulerTest, AFailingSourceSkipsTheRoundAndTheNextIsTriedAfterEvery) {
  const uint64_t token = Acquire("a");
  Scheduler scheduler(*queue_, Options(), source_);
  source_.fail = true;
  RoundReport report;
  EXPECT_EQ(scheduler.Step(token, stop_.get_token(), &report), clock_.Now() + seconds(10));
  EXPECT_TRUE(report.source_failed);
  EXPECT_EQ(Stats().pending, 0);
  source_.fail = false;
  clock_.Advance(seconds(10));
  scheduler.Step(token, stop_.get_token(), &report);
  EXPECT_EQ(report.offered, 7u);
  EXPECT_EQ(scheduler.counters().source_errors, 1u);
}

TEST_F(SchedulerTest, OffersOfAHolderDeposedDuringTheRoundAreRefusedByTheStore) {
  uint64_t token = Acquire("a");
  SchedulerOptions options = Options();
  options.unsafe_offer_past_deadline = true;  // Only the store's fence stands in the way.
  Scheduler scheduler(*queue_, options, source_);
  source_.on_list = [&] {
    Release("a", token);
    Acquire("b");
    stop_.request_stop();
  };
  RoundReport report;
  scheduler.Step(token, stop_.get_token(), &report);
  EXPECT_TRUE(report.ran);
  EXPECT_TRUE(report.fenced_out);
  EXPECT_EQ(report.offered, 0u);
  EXPECT_EQ(report.batches, 1u) << "nothing more is tried after a refusal";
  EXPECT_EQ(Stats().pending, 0);
}

TEST_F(SchedulerTest, AStopRequestEndsTheRoundBeforeTheNextBatch) {
  const uint64_t token = Acquire("a");
  Scheduler scheduler(*queue_, Options(), source_);
  source_.on_list = [&] { stop_.request_stop(); };
  RoundReport report;
  scheduler.Step(token, stop_.get_token(), &report);
  EXPECT_TRUE(report.stopped);
  EXPECT_EQ(report.batches, 0u);
  EXPECT_EQ(Stats().pending, 0);
}

TEST(SchedulerOptionsTest, ValidateNamesWhatIsWrong) {
  const auto with = [](const std::function<void(SchedulerOptions&)>& change) {
    SchedulerOptions options;
    options.queue = {"g", "q"};
    change(options);
    return Scheduler::Validate(options);
  };
  EXPECT_TRUE(with([](SchedulerOptions&) {}).ok());
  auto zero_ttl = with([](SchedulerOptions& o) { o.item_ttl = Duration::zero(); });
  ASSERT_FALSE(zero_ttl.ok());
  EXPECT_NE(zero_ttl.error().message().find("item_ttl must be positive"), std::string::npos);
  EXPECT_FALSE(with([](SchedulerOptions& o) { o.every = Duration::zero(); }).ok());
  EXPECT_FALSE(with([](SchedulerOptions& o) { o.queue.queue.clear(); }).ok());
  EXPECT_FALSE(with([](SchedulerOptions& o) { o.batch = 0; }).ok());
}

}  // namespace
}  // namespace baton
