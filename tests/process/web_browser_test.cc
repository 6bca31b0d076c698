// `baton web` in a real browser: headless Chromium (Debian's) renders the pages served beside
// real `baton run` and `baton work` instances. The rendered DOM must show the active instance,
// the takeover and a queue's dead letters,
// and a group named as markup must stay text: its onerror would set the page's title. Run
// once without the escaping and the Content-Security-Policy (a test-only switch), the same
// check sees the markup run, so it can catch what it claims to. The overview's screenshot is
// saved where BATON_WEB_SCREENSHOT_DIR says (the README's), else in the test's directory.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "group_fixture.h"
#include "support/metrics_scrape.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::LoggedWebAddress;
using test_support::WaitFor;

constexpr const char* kChromium = "/usr/bin/chromium";
const std::string kMarkupGroup = "<img src=x onerror=document.title=1>";

class WebBrowserTest : public WorkFixture {
 protected:
  void SetUp() override {
    WorkFixture::SetUp();
    ASSERT_EQ(access(kChromium, X_OK), 0)
        << kChromium << " is missing: install Debian's chromium (tools/bootstrap.sh does)";
  }

  // Starts `baton web` on a free port under the name `name`; the address it logged.
  std::string StartWeb(const std::string& name, const std::vector<std::string>& env = {}) {
    Spawn(name, {BATON_BIN, "web", "--store", store_, "--listen", "127.0.0.1:0"},
          {.baton_env = env});
    std::optional<std::string> address;
    EXPECT_TRUE(WaitFor(
        [&] { return (address = LoggedWebAddress(instance(name).output_path)).has_value(); },
        kTtl + kSlack))
        << name << " logged no address";
    return "http://" + address.value_or("127.0.0.1:1") + "/";
  }

  // Runs headless Chromium with `args` and a profile of this test's own.
  CommandResult Chromium(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {kChromium,
                                     "--headless=new",
                                     "--no-sandbox",  // As root, Chromium requires it.
                                     "--disable-gpu",
                                     "--no-first-run",
                                     "--disable-dev-shm-usage",
                                     "--user-data-dir=" + dir_.path().string() + "/chromium"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::RunCommand(argv, std::chrono::seconds(90),
                                    {"HOME=" + dir_.path().string()});
  }

  // The DOM as Chromium rendered it, once the page had loaded (and any script had run).
  std::string RenderedDom(const std::string& url) {
    const CommandResult rendered = Chromium({"--virtual-time-budget=2000", "--dump-dom", url});
    EXPECT_TRUE(rendered.Exited(0)) << rendered.Describe();
    return rendered.out;
  }

  // Starts `baton run` instances of a group named as markup, beside the test's own group, with
  // a command of their own (the probe's lock is the test's group's).
  void StartMarkupGroup() {
    for (const std::string id : {"m1", "m2"}) {
      Spawn(id, {BATON_BIN, "run", "--store", store_, "--group", kMarkupGroup, "--id", id, "--ttl",
                 "2s", "--", "/bin/sleep", "1000"});
    }
  }
};

TEST_F(WebBrowserTest, TheRenderedPagesShowTheActiveInstanceAndMarkupInANameOnlyAsText) {
  group_ = "billing-sync";
  StartMarkupGroup();
  // A queue of the group with dead letters, and items done.
  ASSERT_NO_FATAL_FAILURE(DeadAndDone({"acme", "globex"}, {"initech", "umbrella", "hooli"}));
  const ProbeEvent first = StartGroup({"a", "b", "c"});
  instance(first.instance).process.Kill();  // A takeover for the pages to show.
  const std::optional<ProbeEvent> second = WaitForStartAfter(first.token, 2 * kTtl + kSlack);
  ASSERT_TRUE(second) << "no takeover";
  const std::string web = StartWeb("web");

  const std::string overview = RenderedDom(web);
  EXPECT_NE(overview.find("<title>baton</title>"), std::string::npos)
      << "the markup's onerror changed the title: " << overview;
  EXPECT_NE(overview.find("&lt;img src=x onerror=document.title=1&gt;"), std::string::npos)
      << "the group's name, as text: " << overview;
  EXPECT_EQ(overview.find("<img"), std::string::npos) << "an element from a name: " << overview;
  EXPECT_NE(overview.find("<b>" + second->instance + "</b>"), std::string::npos)
      << "the active instance: " << overview;
  EXPECT_NE(overview.find("(expired)"), std::string::npos) << "the last takeover's cause";

  const std::string group = RenderedDom(web + "group?name=billing-sync");
  EXPECT_NE(group.find("<title>billing-sync · baton</title>"), std::string::npos) << group;
  EXPECT_NE(group.find("<td>expired</td>"), std::string::npos) << group;
  EXPECT_NE(group.find("<td>first</td>"), std::string::npos) << group;

  const std::string queue_url = web + "queue?group=billing-sync&name=" + queue_;
  const std::string queue = RenderedDom(queue_url);
  EXPECT_NE(queue.find("<h2>Dead letters</h2>"), std::string::npos) << queue;
  EXPECT_NE(queue.find("<td>acme</td>"), std::string::npos) << "a dead letter: " << queue;
  EXPECT_NE(queue.find("exited with code 3"), std::string::npos) << "its last error: " << queue;
  EXPECT_NE(queue.find("3 done in the last 30 minutes"), std::string::npos) << queue;

  const char* keep = std::getenv("BATON_WEB_SCREENSHOT_DIR");
  const std::string shots = keep != nullptr ? keep : dir_.path().string();
  for (const auto& [file, url, height] :
       {std::tuple{"web-overview.png", web, 320},
        std::tuple{"web-group.png", web + "group?name=billing-sync", 640},
        std::tuple{"web-queue.png", queue_url, 560}}) {
    const std::string path = shots + "/" + file;
    std::filesystem::remove(path);
    const CommandResult shot =
        Chromium({"--hide-scrollbars", "--window-size=1100," + std::to_string(height),
                  "--screenshot=" + path, url});
    ASSERT_TRUE(shot.Exited(0)) << shot.Describe();
    std::ifstream png(path, std::ios::binary);
    char magic[8] = {};
    png.read(magic, sizeof magic);
    EXPECT_EQ(std::string(magic, 8), "\x89PNG\r\n\x1a\n") << path << " is not a PNG";
  }
}

// The check above can fail: served unescaped and without the Content-Security-Policy, the
// same name becomes an element and its onerror runs.
TEST_F(WebBrowserTest, WithoutItsProtectionsTheMarkupInANameRunsAndTheCheckSeesIt) {
  StartMarkupGroup();
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandResult status = test_support::RunCommand(
            {BATON_BIN, "status", "--store", store_, "--group", kMarkupGroup});
        return status.Exited(0);
      },
      kTtl + kSlack));
  const std::string web = StartWeb("unsafe-web", {"BATON_UNSAFE_WEB_NO_ESCAPE=1"});
  const std::string overview = RenderedDom(web);
  EXPECT_NE(overview.find("<title>1</title>"), std::string::npos)
      << "the markup did not run, so the check could not catch it: " << overview;
}

}  // namespace
}  // namespace baton::process_test
