// What each heartbeat reply means for the elector, decided apart from any store or clock.
#include "core/elector_decision.h"

#include <gtest/gtest.h>

namespace baton::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Timing kTiming{
    .ttl = seconds(10), .heartbeat = seconds(2), .margin = seconds(1), .grace = seconds(2)};
const std::string kSelf = "a-1234";
const TimePoint kSent = TimePoint() + seconds(100);
const TimePoint kReceived = kSent + milliseconds(3);

HeartbeatReply Held(uint64_t token) {
  HeartbeatReply reply;
  reply.held = true;
  reply.lease = {.holder = kSelf, .token = token, .remaining = kTiming.ttl};
  return reply;
}

HeartbeatReply Acquired(uint64_t token) {
  HeartbeatReply reply = Held(token);
  reply.acquired = true;
  return reply;
}

HeartbeatReply HeldBy(const std::string& holder, uint64_t token, Duration remaining) {
  HeartbeatReply reply;
  reply.lease = {.holder = holder, .token = token, .remaining = remaining};
  return reply;
}

HeartbeatDecision Decide(const HeartbeatBelief& before, const HeartbeatReply& reply,
                         TimePoint received = kReceived) {
  return DecideAfterHeartbeat(before, reply, kTiming, kSelf, kSent, received);
}

TEST(DecideAfterHeartbeat, ARenewalMovesTheDeadlineFromWhenTheCallWasSent) {
  const auto d = Decide({.active = true, .token = 7}, Held(7));
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kRenewed);
  EXPECT_FALSE(d.lost);
  EXPECT_EQ(d.token, 7u);
  EXPECT_EQ(d.deadline, kSent + seconds(9));  // sent + ttl − margin, never received + …
  EXPECT_EQ(d.next, kSent + seconds(2));
}

TEST(DecideAfterHeartbeat, ARenewalWithAHandoverIsAStepDown) {
  auto reply = Held(7);
  reply.handover = "b";
  const auto d = Decide({.active = true, .token = 7}, reply);
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kStepDown);
  EXPECT_EQ(d.why, "a step-down to b was asked for");
  reply.handover = "";
  EXPECT_EQ(Decide({.active = true, .token = 7}, reply).why, "a step-down was asked for");
}

TEST(DecideAfterHeartbeat, AnotherHolderEndsTheIntervalAndSaysWho) {
  const auto d = Decide({.active = true, .token = 7}, HeldBy("b-99", 8, seconds(10)));
  ASSERT_TRUE(d.lost);
  EXPECT_EQ(*d.lost, "b-99 holds it with token 8");
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kPassive);
}

TEST(DecideAfterHeartbeat, OurOwnHoldUnderAnotherTokenIsNotOurInterval) {
  // The store still has us as holder, but of token 9, not 7: the interval the command ran
  // under is over; a new one needs a new token at once.
  const auto d = Decide({.active = true, .token = 7}, Held(9));
  ASSERT_TRUE(d.lost);
  EXPECT_EQ(*d.lost, "by the store's clock the lease has expired");
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kStaleHold);
  EXPECT_EQ(d.token, 9u);
  EXPECT_EQ(d.next, kReceived);
}

TEST(DecideAfterHeartbeat, AnAcquisitionStartsAnIntervalWithTheNewToken) {
  const auto d = Decide({}, Acquired(12));
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kAcquired);
  EXPECT_FALSE(d.lost);
  EXPECT_EQ(d.token, 12u);
  EXPECT_EQ(d.deadline, kSent + seconds(9));
  EXPECT_EQ(d.next, kSent + seconds(2));
}

TEST(DecideAfterHeartbeat, AnAcquisitionThatCameBackAfterItsDeadlineIsNotUsed) {
  const auto late = Decide({}, Acquired(12), kSent + seconds(9));
  EXPECT_EQ(late.outcome, HeartbeatOutcome::kAcquiredLate);
  EXPECT_EQ(late.token, 12u);
  EXPECT_EQ(late.next, kSent + seconds(9));  // Acquire again at once.
  EXPECT_EQ(Decide({}, Acquired(12), kSent + seconds(9) - milliseconds(1)).outcome,
            HeartbeatOutcome::kAcquired);
}

TEST(DecideAfterHeartbeat, AnAcquisitionWhileStoppingIsKeptOnlyToBeReleased) {
  const auto d = Decide({.stopping = true}, Acquired(12));
  EXPECT_EQ(d.outcome, HeartbeatOutcome::kAcquiredStopping);
  EXPECT_EQ(d.token, 12u);
}

TEST(DecideAfterHeartbeat, APassiveInstanceTriesJustAfterTheLeaseRunsOut) {
  const auto soon = Decide({}, HeldBy("b-99", 8, milliseconds(500)));
  EXPECT_EQ(soon.outcome, HeartbeatOutcome::kPassive);
  EXPECT_FALSE(soon.lost);
  EXPECT_EQ(soon.next, kReceived + milliseconds(501));
  const auto later = Decide({}, HeldBy("b-99", 8, seconds(8)));
  EXPECT_EQ(later.next, kSent + seconds(2));
  const auto free = Decide({}, HeldBy("", 8, Duration::zero()));
  EXPECT_EQ(free.next, kSent + seconds(2));
}

TEST(DecideAfterHeartbeat, AHoldOffThatEndsBeforeTheHeartbeatComesFirst) {
  const auto d = Decide({.compete_after = kSent + seconds(1)}, HeldBy("", 8, Duration::zero()));
  EXPECT_EQ(d.next, kSent + seconds(1));
  const auto past = Decide({.compete_after = kSent - seconds(1)}, HeldBy("", 8, Duration::zero()));
  EXPECT_EQ(past.next, kSent + seconds(2));
}

}  // namespace
}  // namespace baton::detail
