// Real `baton run` processes on PostgreSQL while the network between the active instance and
// the database fails: a partition (every connection reset, new ones refused) and a stall
// (packets silently dropped: connections stay open and nothing arrives). The active instance
// reaches the database through a FaultProxy (tools/fault_proxy); the others connect directly.
// The probe's flock and log judge "never two active" (checked after every test by the
// fixture).

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fault_proxy.h"
#include "group_fixture.h"
#include "postgres_test_env.h"

namespace baton::process_test {
namespace {

using test_support::HoldsFor;
using test_support::IsAlive;
using test_support::PgCluster;
using test_support::WaitFor;

// How long a call of baton's PostgreSQL store may wait for an answer before it drops the
// connection: `baton run` gives the calls ttl − margin − heartbeat (1400 ms here), 4/5 of it
// as the server's statement_timeout and the rest as the client's slack.
constexpr milliseconds kCallTimeout{1400};

class PgNetworkTest : public BatonGroupTest {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    BATON_REQUIRE_PG_CLUSTER(cluster_);
    database_ = cluster_->CreateDatabase("net");
    UseStore(cluster_->Url(database_));
    proxy_ = tools::FaultProxy::Start("127.0.0.1", cluster_->port());
  }

  void TearDown() override {
    BatonGroupTest::TearDown();
    proxy_.reset();
  }

  // The test's database, through the proxy.
  std::string ProxiedUrl() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(proxy_->port()) + "/" + database_;
  }

  // Starts `a` through the proxy and waits until it is active, then `b` and `c` directly.
  ProbeEvent StartGroupWithProxiedActive() {
    Start("a", {.store = ProxiedUrl()});
    const std::optional<ProbeEvent> first = WaitForGroup({"a"});
    if (!first) throw std::runtime_error("a did not become active");
    Start("b");
    Start("c");
    const std::optional<ProbeEvent> all = WaitForGroup({"a", "b", "c"});
    if (!all) throw std::runtime_error("the group did not form");
    EXPECT_EQ(all->token, first->token) << "a lost its lease to newcomers";
    return *first;
  }

  // With the active instance cut off from the store: its child ends by the deadline (at most
  // ttl − margin after the fault, since the last renewal was sent before it), another
  // instance takes over with a new token, and the others reap the old one's member row.
  // Returns the new active child's start.
  std::optional<ProbeEvent> ExpectFailoverFrom(const ProbeEvent& old) {
    EXPECT_TRUE(WaitFor([&] { return !IsAlive(old.pid); }, kTtl + kSlack))
        << "the child of the cut-off instance outlived its deadline";
    const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
    EXPECT_TRUE(next) << "nobody took over from the cut-off instance";
    if (!next) return std::nullopt;
    EXPECT_NE(next->instance, "a");
    EXPECT_TRUE(instance("a").process.Running()) << "the cut-off instance gave up";
    EXPECT_TRUE(WaitFor([&] { return !Status().has_member("a"); }, kTtl + kSlack))
        << "the cut-off instance's member row was not reaped\n"
        << Status().Describe();
    return next;
  }

  // After Heal(): the old instance reconnects through the proxy and is a passive member
  // again, and the new active instance keeps its lease.
  void ExpectRejoinsAsPassive(const ProbeEvent& next) {
    const uint64_t bytes_at_heal = proxy_->client_bytes();
    EXPECT_TRUE(WaitFor(
        [&] {
          const StatusView status = Status();
          return status.role("a") == "passive" && status.active() == next.instance &&
                 status.active_members() == 1;
        },
        kTtl + kSlack))
        << Status().Describe();
    EXPECT_GT(proxy_->client_bytes(), bytes_at_heal) << "a sent nothing after the heal";
    EXPECT_TRUE(HoldsFor(
        [&] {
          return Events("start").size() == 2 && Status().lease_token() == next.token &&
                 IsAlive(next.pid);
        },
        3 * kHeartbeat))
        << "the lease changed hands again after the heal\n"
        << Status().Describe();
  }

  bool OutputHas(const std::string& id, const std::string& text) const {
    return test_support::ReadFile(dir_.File(id + ".out")).find(text) != std::string::npos;
  }

  PgCluster* cluster_ = nullptr;
  std::string database_;
  std::unique_ptr<tools::FaultProxy> proxy_;
};

TEST_F(PgNetworkTest, PartitionedActiveStopsByTheDeadlineAndRejoinsAsPassive) {
  const ProbeEvent old = StartGroupWithProxiedActive();

  proxy_->Cut();
  const std::optional<ProbeEvent> next = ExpectFailoverFrom(old);
  ASSERT_TRUE(next);
  EXPECT_TRUE(OutputHas("a", "heartbeat to ")) << "a said nothing of the partition";

  proxy_->Heal();
  ExpectRejoinsAsPassive(*next);
}

// Nothing tells the instance that its connections are dead: only its own bounds (the
// deadline, and the client-side timeout of each call) end its active work and its calls.
TEST_F(PgNetworkTest, StalledActiveStopsByTheDeadlineAndItsCallsTimeOut) {
  const ProbeEvent old = StartGroupWithProxiedActive();

  const auto stalled_at = std::chrono::steady_clock::now();
  proxy_->Stall();
  const std::optional<ProbeEvent> next = ExpectFailoverFrom(old);
  ASSERT_TRUE(next);

  // The call in flight when the stall began, or the first one after it, gives up by itself.
  EXPECT_TRUE(WaitFor(
      [&] { return OutputHas("a", "no answer within"); },
      kCallTimeout + kHeartbeat + kSlack -
          std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - stalled_at)))
      << "a call on a stalled connection did not time out";

  proxy_->Heal();
  ExpectRejoinsAsPassive(*next);
}

// SIGTERM while the store does not answer: the command stops at once, not when the hanging
// call gives up or the guardian acts (at deadline − grace, a heartbeat after the hanging one
// was sent: 1 s after the signal here); baton then exits by itself and the lease, which it
// could not release, expires for the others.
TEST_F(PgNetworkTest, SigtermWhileStalledStopsTheCommandAtOnce) {
  const ProbeEvent old = StartGroupWithProxiedActive();

  proxy_->Stall();
  const uint64_t bytes_at_stall = proxy_->client_bytes();
  ASSERT_TRUE(WaitFor([&] { return proxy_->client_bytes() > bytes_at_stall; }, kTtl))
      << "a sent no heartbeat after the stall";
  instance("a").process.Signal(SIGTERM);  // Its heartbeat hangs now, for 1.4 s.
  EXPECT_TRUE(WaitFor([&] { return !IsAlive(old.pid); }, milliseconds(500)))
      << "the command waited for the stalled store";
  const auto exit = instance("a").process.WaitExit(2 * kCallTimeout + kSlack);
  ASSERT_TRUE(exit) << "baton did not exit after SIGTERM while the store stalled";
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
  const std::optional<ProbeEvent> next = WaitForStartAfter(old.token, kTtl + kSlack);
  ASSERT_TRUE(next) << "nobody took over";
  EXPECT_NE(next->instance, "a");
}

}  // namespace
}  // namespace baton::process_test
