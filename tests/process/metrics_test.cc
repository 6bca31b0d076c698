// --metrics of `run`, `work` and `schedule`: real processes scraped over HTTP, whose values
// must change as an instance becomes active, loses its lease and processes items.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "support/metrics_scrape.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::LoggedMetricsAddress;
using test_support::Samples;
using test_support::SumOf;
using test_support::ValueOf;
using test_support::WaitFor;

class MetricsTest : public WorkFixture {
 protected:
  // The address instance `id` serves its metrics on (it was given port 0).
  std::string AddressOf(const std::string& id) {
    std::optional<std::string> address;
    EXPECT_TRUE(WaitFor(
        [&] { return (address = LoggedMetricsAddress(instance(id).output_path)).has_value(); },
        kTtl + kSlack))
        << id << " logged no metrics address";
    return address.value_or("127.0.0.1:1");
  }

  // Scrapes until `condition` holds of a scrape; the last scrape.
  Samples ScrapeUntil(const std::string& address, const std::function<bool(const Samples&)>& holds,
                      milliseconds timeout) {
    Samples last;
    WaitFor(
        [&] {
          auto scraped = test_support::Scrape(address);
          if (!scraped) return false;
          last = *scraped;
          return holds(last);
        },
        timeout, milliseconds(50));
    return last;
  }

  static std::string Describe(const Samples& samples, const std::string& prefix) {
    std::string text;
    for (const auto& [series, value] : samples) {
      if (series.rfind(prefix, 0) == 0) text += series + " " + std::to_string(value) + "\n";
    }
    return text.empty() ? "(no " + prefix + " series)" : text;
  }
};

const std::string kActive = R"(baton_is_active{group="svc",lease="active"})";
const std::string kToken = R"(baton_token{group="svc",lease="active"})";
const std::string kToActive = R"(baton_transitions_total{group="svc",lease="active",to="active"})";
const std::string kToPassive =
    R"(baton_transitions_total{group="svc",lease="active",to="passive"})";
const std::string kHeartbeats =
    R"(baton_heartbeat_duration_seconds_count{group="svc",lease="active"})";
const std::string kLosses = "baton_lease_losses_total{";

TEST_F(MetricsTest, RunShowsTheActiveRoleItsTokenAndItsLossAsTheyChange) {
  Start("a", {.baton_args = {"--metrics", "127.0.0.1:0"}});
  const std::optional<ProbeEvent> first = WaitForGroup({"a"});
  ASSERT_TRUE(first);
  const std::string a = AddressOf("a");
  Samples seen = ScrapeUntil(
      a, [](const Samples& s) { return ValueOf(s, kActive) == 1.0; }, kTtl + kSlack);
  EXPECT_EQ(ValueOf(seen, kActive), 1.0) << Describe(seen, "baton_");
  EXPECT_EQ(ValueOf(seen, kToken), static_cast<double>(first->token));
  EXPECT_EQ(ValueOf(seen, kToActive), 1.0);
  EXPECT_GE(ValueOf(seen, kHeartbeats).value_or(0), 1.0);
  EXPECT_EQ(SumOf(seen, kLosses), 0.0);

  Start("b", {.baton_args = {"--metrics", "127.0.0.1:0"}});
  ASSERT_TRUE(WaitForGroup({"a", "b"}));
  const std::string b = AddressOf("b");
  seen = ScrapeUntil(
      b, [](const Samples& s) { return ValueOf(s, kActive).has_value(); }, kTtl + kSlack);
  EXPECT_EQ(ValueOf(seen, kActive), 0.0) << "a passive instance shows itself active\n"
                                         << Describe(seen, "baton_is_active");

  // Paused past its lease, a loses it to b: b's metrics show it active with a larger token,
  // and a's, once it runs again, show it passive and the loss counted.
  instance("a").process.Stop();
  const std::optional<ProbeEvent> next = WaitForStartAfter(first->token, kTtl + kSlack);
  ASSERT_TRUE(next);
  seen = ScrapeUntil(
      b, [](const Samples& s) { return ValueOf(s, kActive) == 1.0; }, kSlack);
  EXPECT_EQ(ValueOf(seen, kActive), 1.0) << Describe(seen, "baton_");
  EXPECT_EQ(ValueOf(seen, kToken), static_cast<double>(next->token));
  instance("a").process.Continue();
  seen = ScrapeUntil(
      a, [](const Samples& s) { return ValueOf(s, kActive) == 0.0 && SumOf(s, kLosses) >= 1; },
      kTtl + kSlack);
  EXPECT_EQ(ValueOf(seen, kActive), 0.0) << Describe(seen, "baton_");
  EXPECT_EQ(ValueOf(seen, kToPassive), 1.0);
  EXPECT_EQ(SumOf(seen, kLosses), 1.0) << Describe(seen, kLosses);

  // A SIGTERM is baton's to handle, not the metrics server's threads': a clean stop.
  for (const char* id : {"a", "b"}) {
    instance(id).process.Terminate();
    const auto ended = instance(id).process.WaitExit(milliseconds(5000));
    ASSERT_TRUE(ended) << id;
    EXPECT_TRUE(ended->Exited(0)) << id << ": " << ended->Describe();
  }
}

const std::string kQueueLabels = R"({group="svc",queue="jobs"})";

TEST_F(MetricsTest, WorkCountsItsItemsByOutcomeAndShowsTheQueuesDepth) {
  Instance& worker =
      StartWorker("w", {"--metrics", "127.0.0.1:0", "--max-attempts", "2"}, {"--fail-until", "1"});
  const std::string w = AddressOf("w");
  Samples seen = ScrapeUntil(
      w, [](const Samples& s) { return ValueOf(s, "baton_queue_stats_up" + kQueueLabels) == 1; },
      kSlack);
  EXPECT_EQ(ValueOf(seen, R"(baton_queue_items{group="svc",queue="jobs",state="pending"})"), 0.0)
      << Describe(seen, "baton_queue");

  // Every first attempt fails and the second succeeds: three failed, three done.
  ASSERT_EQ(Enqueue({"t1", "t2", "t3"}).size(), 3u);
  seen = ScrapeUntil(
      w,
      [](const Samples& s) {
        return ValueOf(s, R"(baton_items_total{group="svc",outcome="done",queue="jobs"})") == 3 &&
               ValueOf(s, "baton_items_in_flight" + kQueueLabels) == 0;
      },
      milliseconds(10000));
  EXPECT_EQ(ValueOf(seen, R"(baton_items_total{group="svc",outcome="done",queue="jobs"})"), 3.0)
      << Describe(seen, "baton_items");
  EXPECT_EQ(ValueOf(seen, R"(baton_items_total{group="svc",outcome="failed",queue="jobs"})"), 3.0);
  EXPECT_EQ(ValueOf(seen, R"(baton_items_total{group="svc",outcome="dead",queue="jobs"})"), 0.0);
  EXPECT_EQ(ValueOf(seen, "baton_items_claimed_total" + kQueueLabels), 6.0);
  EXPECT_EQ(ValueOf(seen, "baton_items_in_flight" + kQueueLabels), 0.0);
  EXPECT_EQ(
      ValueOf(seen,
              R"(baton_item_duration_seconds_count{group="svc",outcome="done",queue="jobs"})"),
      3.0);
  EXPECT_GE(ValueOf(seen, "baton_claim_duration_seconds_count" + kQueueLabels).value_or(0), 2.0);
  EXPECT_EQ(ValueOf(seen, R"(baton_queue_items{group="svc",queue="jobs",state="running"})"), 0.0)
      << Describe(seen, "baton_queue");

  // Paused, the queue keeps what is offered: the depth and the pause show.
  ASSERT_TRUE(QueueJson({"pause"}).is_object());
  ASSERT_EQ(Enqueue({"t4", "t5"}).size(), 2u);
  seen = ScrapeUntil(
      w,
      [](const Samples& s) {
        return ValueOf(s, R"(baton_queue_items{group="svc",queue="jobs",state="pending"})") == 2;
      },
      kSlack);
  EXPECT_EQ(ValueOf(seen, R"(baton_queue_items{group="svc",queue="jobs",state="pending"})"), 2.0)
      << Describe(seen, "baton_queue");
  EXPECT_EQ(ValueOf(seen, "baton_queue_paused" + kQueueLabels), 1.0);
  EXPECT_EQ(ValueOf(seen, "baton_queue_tenants_pending" + kQueueLabels), 2.0);
  // The metrics server's threads must not take the SIGTERM meant for baton's own handling.
  worker.process.Terminate();
  const auto ended = worker.process.WaitExit(milliseconds(5000));
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->Exited(0)) << ended->Describe();
  EXPECT_TRUE(WaitFor(
      [&] {
        return test_support::ReadFile(worker.output_path).find("stopped:") != std::string::npos;
      },
      kSlack));
}

TEST_F(MetricsTest, ScheduleCountsItsRoundsAndOffers) {
  const std::string tenants = dir_.File("tenants.txt");
  test_support::WriteFile(tenants, "t1\nt2\nt3\n");
  Spawn("s", {BATON_BIN, "schedule", "--store", store_, "--group", group_, "--queue", queue_,
              "--id", "s", "--ttl", "2s", "--every", "1s", "--tenants-file", tenants, "--metrics",
              "127.0.0.1:0"});
  const std::string s = AddressOf("s");
  const Samples seen = ScrapeUntil(
      s, [](const Samples& x) { return ValueOf(x, "baton_rounds_total" + kQueueLabels) >= 1; },
      kTtl + kSlack);
  EXPECT_GE(ValueOf(seen, "baton_rounds_total" + kQueueLabels).value_or(0), 1.0)
      << Describe(seen, "baton_");
  // Items wait unclaimed, so a later round offers nothing more.
  EXPECT_EQ(ValueOf(seen, "baton_items_offered_total" + kQueueLabels), 3.0);
  EXPECT_EQ(ValueOf(seen, R"(baton_is_active{group="svc",lease="queue:jobs"})"), 1.0);
  EXPECT_EQ(ValueOf(seen, R"(baton_queue_items{group="svc",queue="jobs",state="pending"})"), 3.0);
}

// A socket of the test's own, listening on a free port of 127.0.0.1.
class Listener final {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(MetricsTest, APortInUseIsExitOneAndABadAddressExitTwo) {
  const Listener taken;
  const std::string address = "127.0.0.1:" + std::to_string(taken.port());
  for (const std::vector<std::string>& argv :
       {RunArgv("a", {.baton_args = {"--metrics", address}}),
        std::vector<std::string>{BATON_BIN, "work", "--store", store_, "--group", group_, "--queue",
                                 queue_, "--metrics", address, "--", "true"}}) {
    const test_support::CommandResult result = test_support::RunCommand(argv, milliseconds(10000));
    EXPECT_TRUE(result.Exited(1)) << result.Describe();
    EXPECT_NE(result.err.find("--metrics cannot listen on " + address), std::string::npos)
        << result.Describe();
  }
  for (const std::string bad : {"example.com:9100", "127.0.0.1:99999", "127.0.0.1:", "x"}) {
    const test_support::CommandResult result = test_support::RunCommand(
        RunArgv("a", {.baton_args = {"--metrics", bad}}), milliseconds(10000));
    EXPECT_TRUE(result.Exited(2)) << bad << ": " << result.Describe();
    EXPECT_NE(result.err.find("--metrics " + bad), std::string::npos) << result.Describe();
  }
  // Nothing joined the group on the way.
  EXPECT_TRUE(Status().member_ids().empty()) << Status().Describe();
}

}  // namespace
}  // namespace baton::process_test
