// A wall-clock step of the database server alone: a PostgreSQL cluster of its own runs under
// libfaketime, whose offset the test rewrites while two `baton run` instances use it. The
// contenders' clocks do not move, so only the database's now() jumps. The probe's flock and
// log judge "never two active" (checked after every test by the fixture).

#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "group_fixture.h"
#include "postgres_test_env.h"
#include "support/pg_cluster.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::PgCluster;

constexpr const char* kLibFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

// A PostgreSQL cluster of its own under libfaketime, whose clock offset a test rewrites.
class FakeTimeCluster final {
 public:
  // Skips (no libfaketime) or fails the test as every PostgreSQL test does; null then.
  static std::unique_ptr<FakeTimeCluster> Start() {
    PgCluster* shared = nullptr;
    [&] { BATON_REQUIRE_PG_CLUSTER(shared); }();
    if (shared == nullptr) return nullptr;
    if (access(kLibFaketime, R_OK) != 0) {
      [] { GTEST_SKIP() << kLibFaketime << " is not installed"; }();
      return nullptr;
    }
    auto fake = std::unique_ptr<FakeTimeCluster>(new FakeTimeCluster());
    // The server runs as another user when we are root: the offset file must be readable.
    std::string pattern = "/tmp/baton-faketime-XXXXXX";
    const int fd = mkstemp(pattern.data());
    if (fd < 0) {
      ADD_FAILURE() << "cannot create " << pattern;
      return nullptr;
    }
    close(fd);
    fake->offset_file_ = pattern;
    chmod(fake->offset_file_.c_str(), 0644);
    fake->SetServerOffset("+0");
    // The server daemonizes: as a subreaper this process would adopt it, and the fixture's
    // clean-up would kill it before the cluster stops it.
    test_support::PgClusterOptions options;
    options.environment = {std::string("LD_PRELOAD=") + kLibFaketime,
                           "FAKETIME_TIMESTAMP_FILE=" + fake->offset_file_, "FAKETIME_NO_CACHE=1",
                           "DONT_FAKE_MONOTONIC=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"};
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    try {
      fake->cluster_ = PgCluster::Start(options);
    } catch (const std::exception& e) {
      test_support::BecomeSubreaper();
      ADD_FAILURE() << "PostgreSQL under libfaketime did not start: " << e.what();
      return nullptr;
    }
    test_support::BecomeSubreaper();
    return fake;
  }
  ~FakeTimeCluster() {
    cluster_.reset();
    if (!offset_file_.empty()) unlink(offset_file_.c_str());
  }

  PgCluster& cluster() { return *cluster_; }

  // Writes the server's clock offset in libfaketime's syntax ("+1h"); read at every call.
  void SetServerOffset(const std::string& offset) const {
    std::ofstream out(offset_file_, std::ios::trunc);
    out << offset << "\n";
    EXPECT_TRUE(out.good()) << "cannot write " << offset_file_;
  }

  // The server's wall clock minus ours, in seconds.
  long ServerClockAhead() const {
    const long server =
        std::stol(cluster_->Query("SELECT extract(epoch FROM clock_timestamp())::bigint"));
    return server - static_cast<long>(std::time(nullptr));
  }

 private:
  FakeTimeCluster() = default;
  std::string offset_file_;
  std::unique_ptr<PgCluster> cluster_;
};

class PgClockStepTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    fake_ = FakeTimeCluster::Start();
    if (!fake_ && !IsSkipped()) FAIL() << "no PostgreSQL under libfaketime";
    if (!fake_) return;
    UseStore(fake_->cluster().Url(fake_->cluster().CreateDatabase("clock")));
  }
  void TearDown() override {
    BatonGroupTest::TearDown();
    fake_.reset();
  }
  void SetServerOffset(const std::string& offset) const { fake_->SetServerOffset(offset); }
  long ServerClockAhead() const { return fake_->ServerClockAhead(); }

  std::unique_ptr<FakeTimeCluster> fake_;
};

TEST_F(PgClockStepTest, ServerClockStepForwardNeverMakesASecondActive) {
  ASSERT_LT(std::labs(ServerClockAhead()), 5L) << "the server's clock is off before the step";
  const ProbeEvent old = StartGroup({"a", "b"});

  SetServerOffset("+1h");
  ASSERT_GT(ServerClockAhead(), 3500L) << "libfaketime did not step the server's clock";

  // By the database's clock every lease and member row expired an hour ago. Whatever the
  // instances make of that, a second child must not start while the first still runs.
  EXPECT_TRUE(HoldsFor(
      [&] {
        if (!Events("overlap").empty() || Status().active_members() > 1) return false;
        for (const ProbeEvent& start : Events("start")) {
          if (start.token > old.token && IsAlive(old.pid)) return false;
        }
        return true;
      },
      3 * kTtl))
      << "after the server's clock stepped forward: " << Status().Describe();
  EXPECT_TRUE(Events("overlap").empty()) << "two children ran at once";
  // The old child's end comes before any later start in the log.
  int64_t old_end_ns = -1;
  for (const std::string kind : {"stop", "exit"}) {
    for (const ProbeEvent& e : Events(kind)) {
      if (e.pid == old.pid && old_end_ns < 0) old_end_ns = e.mono_ns;
    }
  }
  for (const ProbeEvent& start : Events("start")) {
    if (start.token <= old.token) continue;
    EXPECT_GE(old_end_ns, 0) << start.line << ": the old child never ended";
    EXPECT_GT(start.mono_ns, old_end_ns) << start.line << ": started before the old child ended";
  }
  // And the group is whole again: one active child, both instances members.
  EXPECT_TRUE(WaitForGroup({"a", "b"}, kTtl + kSlack));
  // Renewal is a compare-and-set on holder and token, so the step did not even interrupt
  // the holder: its child still runs under the first token.
  EXPECT_TRUE(IsAlive(old.pid)) << "the holder's child was stopped by the clock step";
  EXPECT_EQ(Events("start").size(), 1u) << "the clock step caused a new active interval";
}

// SPEC 3.3: a claim's expiry is judged as a lease's is. A forward step of an hour of the
// database's clock while items run must not let a tenant run twice at once.
class PgItemClockStepTest : public WorkFixture {
 protected:
  void SetUp() override {
    WorkFixture::SetUp();
    fake_ = FakeTimeCluster::Start();
    if (!fake_ && !IsSkipped()) FAIL() << "no PostgreSQL under libfaketime";
    if (!fake_) return;
    UseStore(fake_->cluster().Url(fake_->cluster().CreateDatabase("items")));
  }
  void TearDown() override {
    WorkFixture::TearDown();
    fake_.reset();
  }

  std::unique_ptr<FakeTimeCluster> fake_;
};

TEST_F(PgItemClockStepTest, ServerClockStepForwardNeverRunsATenantTwice) {
  ASSERT_LT(std::labs(fake_->ServerClockAhead()), 5L);
  std::vector<std::string> tenants;
  for (int t = 0; t < 6; ++t) tenants.push_back("tenant-" + std::to_string(t));
  const std::vector<uint64_t> ids = Enqueue(tenants);
  // Each item works for 4 s, two visibilities: its claim must stay its worker's. Free slots
  // keep both workers claiming, and so trying to take back what looks expired.
  StartWorker("a", {"--concurrency", "8"}, {"--sleep", "4000"});
  StartWorker("b", {"--concurrency", "8"}, {"--sleep", "4000"});
  ASSERT_TRUE(
      test_support::WaitFor([&] { return ItemEvents("start").size() == 6; }, kTtl + kSlack));
  fake_->SetServerOffset("+1h");
  ASSERT_GT(fake_->ServerClockAhead(), 3500L) << "libfaketime did not step the server's clock";
  // By the database's clock every claim expired an hour ago; the workers' own watch of each
  // claim must keep them from taking one back while its worker still extends it.
  EXPECT_TRUE(
      test_support::WaitFor([&] { return ItemEvents("done").size() == 6; }, milliseconds(15000)));
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  EXPECT_EQ(ItemEvents("start").size(), 6u) << "an item was claimed again while it ran";
  for (const ItemEvent& e : ItemEvents("start")) EXPECT_EQ(e.attempt, 1) << e.item;
}

}  // namespace
}  // namespace baton::process_test
