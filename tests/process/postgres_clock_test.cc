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

namespace baton::process_test {
namespace {

using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::PgCluster;

constexpr const char* kLibFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

class PgClockStepTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    PgCluster* shared = nullptr;
    BATON_REQUIRE_PG_CLUSTER(shared);  // Skips or fails as every PostgreSQL test does.
    if (access(kLibFaketime, R_OK) != 0) GTEST_SKIP() << kLibFaketime << " is not installed";

    // The server runs as another user when we are root: the offset file must be readable.
    std::string pattern = "/tmp/baton-faketime-XXXXXX";
    const int fd = mkstemp(pattern.data());
    ASSERT_GE(fd, 0) << "cannot create " << pattern;
    close(fd);
    offset_file_ = pattern;
    ASSERT_EQ(chmod(offset_file_.c_str(), 0644), 0);
    SetServerOffset("+0");

    // The server daemonizes: as a subreaper this process would adopt it, and the fixture's
    // clean-up would kill it before the cluster stops it.
    test_support::PgClusterOptions options;
    options.environment = {std::string("LD_PRELOAD=") + kLibFaketime,
                           "FAKETIME_TIMESTAMP_FILE=" + offset_file_, "FAKETIME_NO_CACHE=1",
                           "DONT_FAKE_MONOTONIC=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"};
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    try {
      cluster_ = PgCluster::Start(options);
    } catch (const std::exception& e) {
      test_support::BecomeSubreaper();
      FAIL() << "PostgreSQL under libfaketime did not start: " << e.what();
    }
    test_support::BecomeSubreaper();
    UseStore(cluster_->Url(cluster_->CreateDatabase("clock")));
  }

  void TearDown() override {
    BatonGroupTest::TearDown();
    cluster_.reset();
    if (!offset_file_.empty()) unlink(offset_file_.c_str());
  }

  // Writes the server's clock offset in libfaketime's syntax ("+1h"); read at every call.
  void SetServerOffset(const std::string& offset) const {
    std::ofstream out(offset_file_, std::ios::trunc);
    out << offset << "\n";
    ASSERT_TRUE(out.good()) << "cannot write " << offset_file_;
  }

  // The server's wall clock minus ours, in seconds.
  long ServerClockAhead() const {
    const long server =
        std::stol(cluster_->Query("SELECT extract(epoch FROM clock_timestamp())::bigint"));
    return server - static_cast<long>(std::time(nullptr));
  }

  std::string offset_file_;
  std::unique_ptr<PgCluster> cluster_;
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

}  // namespace
}  // namespace baton::process_test
