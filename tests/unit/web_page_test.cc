// The web page's rendering, apart from any server or store: every value from the store is
// escaped wherever it lands (text, link, title), and the JSON keeps it as it is.
#include <gtest/gtest.h>

#include "html.h"
#include "json.h"

namespace baton::web {
namespace {

using std::chrono::seconds;

const std::string kHostile = "<img src=x onerror=document.title=1>\"'&";
const std::string kEscaped = "&lt;img src=x onerror=document.title=1&gt;&quot;&#39;&amp;";

GroupSummary HostileGroup() {
  GroupSummary g;
  g.name = kHostile;
  Member m;
  m.info = {.id = kHostile,
            .holder = kHostile + "/0123",
            .host = kHostile,
            .pid = 7,
            .version = kHostile};
  m.role = MemberRole::kActive;
  m.since_heartbeat = seconds(1);
  m.expires_in = seconds(9);
  g.snapshot.members.push_back(m);
  g.snapshot.lease = {.holder = kHostile + "/0123", .token = 3, .remaining = seconds(8)};
  g.queues = {QueueSummary{.name = kHostile, .stats = {}}};
  g.last_takeover = Takeover{.token = 3,
                             .holder = kHostile + "/0123",
                             .cause = TakeoverCause::kExpired,
                             .at = std::chrono::system_clock::now() - seconds(30)};
  return g;
}

TEST(WebPageTest, EscapesEveryCharacterThatCouldOpenMarkup) {
  EXPECT_EQ(EscapeHtml(kHostile), kEscaped);
  EXPECT_EQ(EscapeQuery("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

TEST(WebPageTest, TheOverviewAndAGroupPageShowStoreValuesOnlyEscaped) {
  Overview overview{.store = kHostile, .now = std::chrono::system_clock::now(), .groups = {}};
  overview.groups.push_back(HostileGroup());
  GroupDetail detail{.store = kHostile,
                     .now = overview.now,
                     .group = HostileGroup(),
                     .takeovers = {*HostileGroup().last_takeover}};
  ItemView dead;
  dead.id = 9;
  dead.tenant = kHostile;
  dead.state = ItemState::kDead;
  dead.attempts = 3;
  dead.last_error = kHostile;
  dead.exit_code = 7;
  QueueDetail queue{.store = kHostile,
                    .now = overview.now,
                    .group = kHostile,
                    .queue = QueueSummary{.name = kHostile, .stats = {}},
                    .running = {},
                    .next = {},
                    .dead = {dead},
                    .minutes = {}};
  for (const std::string& page : {RenderOverview(overview), RenderGroup(detail), RenderQueue(queue),
                                  RenderProblem(kHostile, kHostile)}) {
    EXPECT_EQ(page.find("<img"), std::string::npos) << page;
    EXPECT_NE(page.find(kEscaped), std::string::npos) << page;
    EXPECT_EQ(page.find("<script"), std::string::npos) << "the pages run no script: " << page;
  }
  EXPECT_NE(RenderOverview(overview).find("group?name=%3Cimg%20src%3Dx"), std::string::npos)
      << "the group's link carries its name percent-encoded";
  EXPECT_NE(RenderGroup(detail).find("<title>" + kEscaped + " · baton</title>"), std::string::npos);
  EXPECT_NE(RenderGroup(detail).find("expired"), std::string::npos);
}

TEST(WebPageTest, TheChartHasABarForEachRecentMinuteAndSaysItsTotal) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::minutes(29000000)) +
                   seconds(30);  // Half a minute into a minute.
  const auto minute = [&](int ago) {
    return std::chrono::floor<std::chrono::minutes>(now) - std::chrono::minutes(ago);
  };
  const std::string chart = ThroughputChart(
      {MinuteCounts{.minute = minute(45), .done = 1000, .failed = 0, .dead = 0},  // Too old.
       MinuteCounts{.minute = minute(2), .done = 10, .failed = 2, .dead = 1},
       MinuteCounts{.minute = minute(0), .done = 5, .failed = 0, .dead = 0}},
      now);
  EXPECT_NE(chart.find("aria-label=\"15 done in the last 30 minutes\""), std::string::npos)
      << chart;
  EXPECT_NE(chart.find("10 done, 2 failed, 1 dead"), std::string::npos) << chart;
  EXPECT_EQ(chart.find("1000 done"), std::string::npos) << "older than the chart";
}

TEST(WebPageTest, AGroupWithoutAnActiveInstanceSaysSo) {
  GroupSummary g;
  g.name = "billing";
  g.snapshot.members.push_back(Member{});  // Members, none of them active.
  GroupSummary queues_only;
  queues_only.name = "etl";
  queues_only.queues = {QueueSummary{.name = "jobs", .stats = {}}};
  Overview overview{
      .store = "sqlite:/x", .now = std::chrono::system_clock::now(), .groups = {g, queues_only}};
  const std::string page = RenderOverview(overview);
  EXPECT_NE(page.find("1 without an active instance"), std::string::npos)
      << "a group of queues alone elects nobody: " << page;
  EXPECT_NE(page.find("queues only"), std::string::npos) << page;
  const nlohmann::json json = OverviewJson(overview);
  EXPECT_TRUE(json["groups"][0]["active"].is_null());
  EXPECT_TRUE(json["groups"][0]["last_takeover"].is_null());
}

TEST(WebPageTest, TheJsonKeepsStoreValuesAsTheyAre) {
  Overview overview{.store = "s", .now = std::chrono::system_clock::now(), .groups = {}};
  overview.groups.push_back(HostileGroup());
  const nlohmann::json json = OverviewJson(overview);
  const nlohmann::json& g = json["groups"][0];
  EXPECT_EQ(g["name"], kHostile);
  EXPECT_EQ(g["active"], kHostile);
  EXPECT_EQ(g["token"], 3);
  EXPECT_EQ(g["lease_remaining_ms"], 8000);
  EXPECT_EQ(g["members"][0]["role"], "active");
  EXPECT_EQ(g["last_takeover"]["cause"], "expired");
  EXPECT_EQ(g["last_takeover"]["id"], kHostile);
}

}  // namespace
}  // namespace baton::web
