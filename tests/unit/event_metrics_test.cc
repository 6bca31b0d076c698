// EventMetrics on hand-made events: each event moves the series SPEC 6 names, and nothing else.
#include "metrics/event_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "baton/elector.h"

namespace baton::metrics {
namespace {

using std::chrono::milliseconds;

class EventMetricsTest : public ::testing::Test {
 protected:
  // The registry in Prometheus' text format.
  std::string Text() const { return prometheus::TextSerializer().Serialize(registry_.Collect()); }
  // Whether the text has `line` whole.
  bool Has(const std::string& line) const {
    const std::string text = "\n" + Text();
    return text.find("\n" + line + "\n") != std::string::npos;
  }
  void Lease(EventKind kind, uint64_t token = 0, PassiveReason reason = PassiveReason::kStopping) {
    sink_.OnEvent({.kind = kind,
                   .group = "billing",
                   .name = "active",
                   .token = token,
                   .passive_reason = reason,
                   .latency = milliseconds(3)});
  }
  void Work(EventKind kind, int64_t count = 0) {
    sink_.OnEvent({.kind = kind,
                   .group = "billing",
                   .name = "sync",
                   .latency = milliseconds(20),
                   .count = count});
  }

  prometheus::Registry registry_;
  EventMetrics sink_{registry_};
};

TEST_F(EventMetricsTest, AnElectorsEventsMoveItsRoleTokenTransitionsAndLosses) {
  Lease(EventKind::kHeartbeat);
  EXPECT_TRUE(Has(R"(baton_is_active{group="billing",lease="active"} 0)")) << Text();
  Lease(EventKind::kBecameActive, 42);
  Lease(EventKind::kHeartbeat);
  EXPECT_TRUE(Has(R"(baton_is_active{group="billing",lease="active"} 1)")) << Text();
  EXPECT_TRUE(Has(R"(baton_token{group="billing",lease="active"} 42)")) << Text();
  EXPECT_TRUE(Has(R"(baton_heartbeat_duration_seconds_count{group="billing",lease="active"} 2)"));
  EXPECT_TRUE(Has(
      R"(baton_heartbeat_duration_seconds_bucket{group="billing",lease="active",le="0.005"} 2)"));
  EXPECT_TRUE(Has(
      R"(baton_heartbeat_duration_seconds_bucket{group="billing",lease="active",le="0.002"} 0)"));

  Lease(EventKind::kBecamePassive, 42, PassiveReason::kDeadlinePassed);
  Lease(EventKind::kBecameActive, 43);
  Lease(EventKind::kBecamePassive, 43, PassiveReason::kStopping);  // A stop is no loss.
  EXPECT_TRUE(Has(R"(baton_is_active{group="billing",lease="active"} 0)")) << Text();
  EXPECT_TRUE(Has(R"(baton_token{group="billing",lease="active"} 43)"));
  EXPECT_TRUE(Has(R"(baton_transitions_total{group="billing",lease="active",to="active"} 2)"));
  EXPECT_TRUE(Has(R"(baton_transitions_total{group="billing",lease="active",to="passive"} 2)"));
  EXPECT_TRUE(
      Has(R"(baton_lease_losses_total{cause="deadline_passed",group="billing",lease="active"} 1)"))
      << Text();
  EXPECT_TRUE(
      Has(R"(baton_lease_losses_total{cause="lease_lost",group="billing",lease="active"} 0)"));

  Lease(EventKind::kHeartbeatFailed);
  Lease(EventKind::kReaped);
  EXPECT_TRUE(Has(R"(baton_heartbeat_failures_total{group="billing",lease="active"} 1)"));
  EXPECT_TRUE(Has(R"(baton_reaped_members_total{group="billing",lease="active"} 1)"));
}

TEST_F(EventMetricsTest, AWorkersEventsCountItemsByOutcomeAndTrackThoseInFlight) {
  Work(EventKind::kClaimed, 3);
  for (int i = 0; i < 3; ++i) Work(EventKind::kItemStarted);
  EXPECT_TRUE(Has(R"(baton_items_in_flight{group="billing",queue="sync"} 3)")) << Text();
  Work(EventKind::kItemDone);
  Work(EventKind::kItemFailed);
  Work(EventKind::kItemDead);
  Work(EventKind::kItemReleased);
  Work(EventKind::kClaimStale);
  Work(EventKind::kItemSettled, 3);
  EXPECT_TRUE(Has(R"(baton_items_in_flight{group="billing",queue="sync"} 0)")) << Text();
  EXPECT_TRUE(Has(R"(baton_items_claimed_total{group="billing",queue="sync"} 3)"));
  for (const char* outcome : {"done", "failed", "dead", "released"}) {
    EXPECT_TRUE(Has(std::string(R"(baton_items_total{group="billing",outcome=")") + outcome +
                    R"(",queue="sync"} 1)"))
        << outcome << "\n"
        << Text();
  }
  EXPECT_TRUE(Has(R"(baton_items_total{group="billing",outcome="timed_out",queue="sync"} 0)"));
  EXPECT_TRUE(Has(R"(baton_stale_claims_total{group="billing",queue="sync"} 1)"));
  EXPECT_TRUE(Has(R"(baton_claim_duration_seconds_count{group="billing",queue="sync"} 1)"));
  EXPECT_TRUE(
      Has(R"(baton_item_duration_seconds_count{group="billing",outcome="done",queue="sync"} 1)"));
}

TEST_F(EventMetricsTest, ASchedulersRoundsCountOffersAndFailuresByCause) {
  Work(EventKind::kRound, 7);
  Work(EventKind::kRound, 2);
  Work(EventKind::kRoundSourceFailed);
  Work(EventKind::kFencedOut);
  EXPECT_TRUE(Has(R"(baton_rounds_total{group="billing",queue="sync"} 2)")) << Text();
  EXPECT_TRUE(Has(R"(baton_items_offered_total{group="billing",queue="sync"} 9)"));
  EXPECT_TRUE(Has(R"(baton_round_failures_total{cause="source",group="billing",queue="sync"} 1)"));
  EXPECT_TRUE(Has(R"(baton_round_failures_total{cause="fenced",group="billing",queue="sync"} 1)"));
  EXPECT_TRUE(Has(R"(baton_round_failures_total{cause="store",group="billing",queue="sync"} 0)"));
  // A scheduler's events make no worker series.
  EXPECT_EQ(Text().find("baton_items_in_flight"), std::string::npos);
}

}  // namespace
}  // namespace baton::metrics
