// The contender's watch of a PostgreSQL lease: when a takeover may happen (SPEC 2.5), and when
// to look so that the watch starts just after each of the holder's renewals.
#include "lease_watch.h"

#include <gtest/gtest.h>

namespace baton::postgres_detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const LeaseKey kKey{.group = "billing"};
const TimePoint kStart = TimePoint() + seconds(100);
constexpr Duration kEvery = milliseconds(200);

LeaseView Lease(uint64_t renewals, const std::string& holder = "b-1") {
  return {.holder = holder, .token = 7, .renewals = renewals, .remaining = seconds(1)};
}

TEST(LeaseWatchTest, AWatchCountsFromTheFirstSightingOfItsTriple) {
  LeaseWatch watch;
  EXPECT_FALSE(watch.Before(kKey, kStart));
  watch.Seen(kKey, Lease(3), kStart);
  watch.Seen(kKey, Lease(3), kStart + milliseconds(500));
  EXPECT_EQ(watch.Before(kKey, kStart + seconds(1))->watched_for, seconds(1));
  EXPECT_EQ(watch.Left(kKey, seconds(1), kStart + milliseconds(600)), milliseconds(400));
  watch.Seen(kKey, Lease(4), kStart + milliseconds(700));
  EXPECT_EQ(watch.Before(kKey, kStart + seconds(1))->watched_for, milliseconds(300));
  EXPECT_EQ(watch.Left(kKey, seconds(1), kStart + seconds(1)), milliseconds(700));
}

TEST(LeaseWatchTest, NoAdviceUntilTwoRenewalsAreTimed) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart + milliseconds(5), kStart);
  EXPECT_FALSE(watch.NextLook(kKey, kStart + milliseconds(5)));
  watch.Seen(kKey, Lease(4), kStart + milliseconds(190));  // When it was renewed is unknown.
  EXPECT_FALSE(watch.NextLook(kKey, kStart + milliseconds(190)));
}

// The release listener reads the lease when it (re)connects, without its timing: a heartbeat
// that then sees the same renewal still times the interval from the renewal before.
TEST(LeaseWatchTest, ASightingWithoutItsTimeDoesNotBreakTheTiming) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart + milliseconds(5), kStart);
  watch.Seen(kKey, Lease(4), kStart + kEvery + milliseconds(2));  // The listener's read.
  watch.Seen(kKey, Lease(4), kStart + kEvery + milliseconds(5), kStart + kEvery);
  auto look = watch.NextLook(kKey, kStart + kEvery + milliseconds(5));
  ASSERT_TRUE(look);
  EXPECT_EQ(look->every, kEvery);
}

TEST(LeaseWatchTest, TheNextLookIsJustAfterTheNextRenewalIsDue) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart + milliseconds(5), kStart);
  // Two renewals later: one interval is the mean of the two.
  watch.Seen(kKey, Lease(5), kStart + 2 * kEvery + milliseconds(30), kStart + 2 * kEvery);
  const TimePoint now = kStart + 2 * kEvery + milliseconds(30);
  auto look = watch.NextLook(kKey, now);
  ASSERT_TRUE(look);
  EXPECT_EQ(look->every, kEvery);
  EXPECT_EQ(now + look->in, kStart + 3 * kEvery + kLookAfterRenewal);
}

TEST(LeaseWatchTest, ALateRenewalIsLookedForAgainSoonThenAtTheUsualPace) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart, kStart);
  watch.Seen(kKey, Lease(4), kStart + kEvery, kStart + kEvery);
  TimePoint now = kStart + 2 * kEvery + kLookAfterRenewal;  // Due now; still renewal 4.
  Duration expected = kLookAfterRenewal;
  for (int look = 0; look < 4; ++look) {
    watch.Seen(kKey, Lease(4), now, now);
    auto again = watch.NextLook(kKey, now);
    ASSERT_TRUE(again) << "look " << look;
    EXPECT_EQ(again->in, expected);
    EXPECT_EQ(again->every, Duration::zero());
    now += again->in;
    expected *= 2;
  }
  watch.Seen(kKey, Lease(4), now, now);  // The fifth would wait 160 ms: half an interval.
  EXPECT_FALSE(watch.NextLook(kKey, now));
  // The renewal arrives: looks are timed from it again, at the interval timed before (the
  // late one does not count), and the watch starts anew.
  watch.Seen(kKey, Lease(5), now + milliseconds(1), now);
  auto look = watch.NextLook(kKey, now + milliseconds(1));
  ASSERT_TRUE(look);
  EXPECT_EQ(look->every, kEvery);
  EXPECT_EQ(watch.Before(kKey, now + milliseconds(1))->watched_for, Duration::zero());
}

TEST(LeaseWatchTest, ANewHolderIsLookedForAtThePreviousHoldersPace) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart, kStart);
  watch.Seen(kKey, Lease(4), kStart + kEvery, kStart + kEvery);
  const TimePoint acquired = kStart + seconds(2);
  watch.Seen(kKey, Lease(0, "c-2"), acquired, acquired);
  auto look = watch.NextLook(kKey, acquired);
  ASSERT_TRUE(look);
  EXPECT_EQ(look->in, kEvery + kLookAfterRenewal);
  EXPECT_EQ(watch.Before(kKey, acquired)->holder, "c-2");
}

TEST(LeaseWatchTest, AReleasedLeaseHasNoAdvice) {
  LeaseWatch watch;
  watch.Seen(kKey, Lease(3), kStart, kStart);
  watch.Seen(kKey, Lease(4), kStart + kEvery, kStart + kEvery);
  watch.Seen(kKey, Lease(0, ""), kStart + seconds(1), kStart + seconds(1));
  EXPECT_FALSE(watch.NextLook(kKey, kStart + seconds(1)));
  EXPECT_FALSE(watch.Before(kKey, kStart + seconds(1)));
}

}  // namespace
}  // namespace baton::postgres_detail
