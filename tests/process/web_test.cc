// `baton web` with real processes: the pages and their JSON over real HTTP, on a group whose
// name would be markup if it were not escaped, through a SIGKILL of the active instance; and
// its bad input.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

#include "group_fixture.h"
#include "html.h"
#include "support/metrics_scrape.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::HttpGet;
using test_support::HttpReply;
using test_support::LoggedWebAddress;
using test_support::WaitFor;

// A group name that is markup, a query's separators and a quote at once.
const std::string kHostileGroup = "svc<b id=\"x\">&amp;?name=1#'";

class WebTest : public WorkTest {
 protected:
  // Starts `baton web` on a free port; the address it logged.
  std::string StartWeb() {
    Spawn("web", {BATON_BIN, "web", "--store", store_, "--listen", "127.0.0.1:0"});
    std::optional<std::string> address;
    EXPECT_TRUE(WaitFor(
        [&] { return (address = LoggedWebAddress(instance("web").output_path)).has_value(); },
        kTtl + kSlack))
        << "baton web logged no address";
    return address.value_or("127.0.0.1:1");
  }

  static HttpReply Get(const std::string& address, const std::string& path) {
    std::optional<HttpReply> reply = HttpGet(address, path);
    EXPECT_TRUE(reply) << "GET " << path << ": no answer";
    return reply.value_or(HttpReply{});
  }
};

TEST_P(WebTest, PagesAndJsonShowTheActiveInstanceTheMembersAndTheTakeoverAfterACrash) {
  group_ = kHostileGroup;
  const ProbeEvent first = StartGroup({"a", "b"});
  const std::string web = StartWeb();

  HttpReply overview = Get(web, "/");
  EXPECT_EQ(overview.status, 200) << overview.body;
  EXPECT_NE(overview.headers.find("Content-Security-Policy: default-src 'none'"), std::string::npos)
      << overview.headers;
  EXPECT_NE(overview.body.find("svc&lt;b id=&quot;x&quot;&gt;&amp;amp;?name=1#&#39;"),
            std::string::npos)
      << "the group's name, escaped: " << overview.body;
  EXPECT_EQ(overview.body.find("<b id="), std::string::npos) << "raw markup from the store";
  EXPECT_NE(overview.body.find("<b>" + first.instance + "</b>"), std::string::npos)
      << "the active instance: " << overview.body;

  const auto groups = nlohmann::json::parse(Get(web, "/api/groups").body, nullptr, false);
  ASSERT_TRUE(groups.is_object()) << groups;
  const auto& list = groups["groups"];
  auto ours = std::find_if(list.begin(), list.end(),
                           [](const nlohmann::json& g) { return g["name"] == kHostileGroup; });
  ASSERT_NE(ours, list.end()) << groups.dump();
  EXPECT_EQ((*ours)["active"], first.instance);
  EXPECT_EQ((*ours)["token"], first.token);
  EXPECT_EQ((*ours)["members"].size(), 2u);
  EXPECT_EQ((*ours)["last_takeover"]["cause"], "first");

  // The active instance dies; the other takes over when its lease expires.
  instance(first.instance).process.Kill();
  const std::optional<ProbeEvent> second = WaitForStartAfter(first.token, 2 * kTtl + kSlack);
  ASSERT_TRUE(second) << "no takeover";
  const auto group = nlohmann::json::parse(
      Get(web, "/api/group?name=" + web::EscapeQuery(kHostileGroup)).body, nullptr, false);
  ASSERT_TRUE(group.is_object()) << group;
  EXPECT_EQ(group["group"]["active"], second->instance);
  ASSERT_GE(group["takeovers"].size(), 2u) << group.dump();
  EXPECT_EQ(group["takeovers"][0]["id"], second->instance);
  EXPECT_EQ(group["takeovers"][0]["token"], second->token);
  EXPECT_EQ(group["takeovers"][0]["cause"], "expired");
  EXPECT_EQ(group["takeovers"][1]["id"], first.instance);
  EXPECT_EQ(group["takeovers"][1]["cause"], "first");

  HttpReply page = Get(web, "/group?name=" + web::EscapeQuery(kHostileGroup));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("expired"), std::string::npos) << page.body;
  EXPECT_EQ(page.body.find("<b id="), std::string::npos) << "raw markup from the store";

  EXPECT_EQ(Get(web, "/group?name=nobody").status, 404);
  EXPECT_EQ(Get(web, "/api/group?name=nobody").status, 404);
  EXPECT_EQ(Get(web, "/group").status, 400);
  EXPECT_EQ(Get(web, "/nothing-here").status, 404);
}

// A queue with dead letters and finished items: its page, its JSON, and its row on the group's.
TEST_P(WebTest, AQueuesPageShowsItsDepthItsDeadLettersWithTheirErrorAndWhatFinishedPerMinute) {
  ASSERT_NO_FATAL_FAILURE(DeadAndDone({"bad-1", "bad-2"}, {"ok-1", "ok-2", "ok-3"}));
  const std::string web = StartWeb();

  const std::string path = "?group=" + web::EscapeQuery(group_) + "&name=" + queue_;
  const auto queue = nlohmann::json::parse(Get(web, "/api/queue" + path).body, nullptr, false);
  ASSERT_TRUE(queue.is_object()) << queue;
  EXPECT_EQ(queue["queue"]["dead"], 2) << queue.dump();
  EXPECT_EQ(queue["queue"]["pending"], 0);
  EXPECT_EQ(queue["queue"]["done_total"], 3);
  ASSERT_EQ(queue["dead"].size(), 2u) << queue.dump();
  for (const nlohmann::json& item : queue["dead"]) {
    EXPECT_EQ(item["exit_code"], 3) << item;
    EXPECT_EQ(item["attempts"], 1) << item;
    EXPECT_NE(item["last_error"], "") << item;
    EXPECT_EQ(item["tenant"].get<std::string>().rfind("bad-", 0), 0u) << item;
  }
  int64_t done = 0, dead = 0;
  for (const nlohmann::json& minute : queue["minutes"]) {
    done += minute["done"].get<int64_t>();
    dead += minute["dead"].get<int64_t>();
  }
  EXPECT_EQ(done, 3) << queue["minutes"].dump();
  EXPECT_EQ(dead, 2) << queue["minutes"].dump();

  HttpReply page = Get(web, "/queue" + path);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Dead letters"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("<td>bad-1</td>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("3 done in the last 30 minutes"), std::string::npos) << page.body;

  const auto group = nlohmann::json::parse(
      Get(web, "/api/group?name=" + web::EscapeQuery(group_)).body, nullptr, false);
  ASSERT_TRUE(group.is_object()) << group;
  ASSERT_EQ(group["group"]["queues"].size(), 1u) << group.dump();
  EXPECT_EQ(group["group"]["queues"][0]["name"], queue_);
  EXPECT_EQ(group["group"]["queues"][0]["dead"], 2);
  EXPECT_EQ(Get(web, "/queue?group=" + web::EscapeQuery(group_) + "&name=nothing").status, 404);
  EXPECT_EQ(Get(web, "/api/queue?name=" + queue_).status, 400);
}

TEST_P(WebTest, ABadListenAddressIsRefusedAndTheDefaultIsLoopbackOnly) {
  for (const std::string listen : {"nonsense:8080", "127.0.0.1:99999", "example.com:80"}) {
    const CommandResult refused =
        test_support::RunCommand({BATON_BIN, "web", "--store", store_, "--listen", listen});
    EXPECT_TRUE(refused.Exited(2)) << refused.Describe();
    EXPECT_NE(refused.err.find("--listen " + listen), std::string::npos) << refused.Describe();
  }
  const CommandResult help = test_support::RunCommand({BATON_BIN, "web", "--help"});
  EXPECT_TRUE(help.Exited(0)) << help.Describe();
  EXPECT_NE(help.out.find("default 127.0.0.1:8080"), std::string::npos) << help.out;

  // Without --listen: 127.0.0.1:8080, unless something here already listens there.
  const CommandResult created = test_support::RunCommand({BATON_BIN, "migrate", "--store", store_});
  ASSERT_TRUE(created.Exited(0)) << created.Describe();
  Spawn("web", {BATON_BIN, "web", "--store", store_});
  std::optional<std::string> address;
  WaitFor([&] { return (address = LoggedWebAddress(instance("web").output_path)).has_value(); },
          kTtl + kSlack);
  if (!address) {
    ASSERT_TRUE(instance("web").process.WaitExit(kTtl)) << "neither listening nor refused";
    GTEST_SKIP() << "127.0.0.1:8080 is in use here";
  }
  EXPECT_EQ(*address, "127.0.0.1:8080");
}

}  // namespace

BATON_INSTANTIATE_ON_STORE_UNDER_TEST(WebTest);

}  // namespace baton::process_test
