// `baton status --watch` on a real terminal (a pseudo-terminal this test holds): it redraws in
// place with the group's queues, quits on `q` and on Ctrl-C with exit 0, and gives the
// terminal back as it found it.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "group_fixture.h"

namespace baton::process_test {
namespace {

using test_support::WaitFor;

// `baton status --watch` with a pseudo-terminal as its controlling terminal and standard
// input and output.
class WatchOnATerminal final {
 public:
  explicit WatchOnATerminal(const std::vector<std::string>& argv) {
    winsize size{.ws_row = 40, .ws_col = 160, .ws_xpixel = 0, .ws_ypixel = 0};
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~WatchOnATerminal() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  bool started() const { return pid_ > 0; }

  // Reads what the program wrote, up to `timeout`, until `until` holds of all of it.
  bool ReadUntil(const std::function<bool(const std::string&)>& until, milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!until(screen_)) {
      const auto left =
          std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd in{.fd = master_, .events = POLLIN, .revents = 0};
      if (poll(&in, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = read(master_, buffer, sizeof buffer);
      if (n <= 0) return until(screen_);
      screen_.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }
  void Type(const std::string& keys) {
    ASSERT_EQ(write(master_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
  }
  // The exit status once the program has ended within `timeout`, or nothing.
  std::optional<int> WaitExit(milliseconds timeout) {
    std::optional<int> status;
    WaitFor(
        [&] {
          int raw = 0;
          if (waitpid(pid_, &raw, WNOHANG) != pid_) return false;
          exited_ = true;
          status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
          return true;
        },
        timeout);
    return status;
  }
  // The terminal's local modes now (the master side reads the line's settings).
  tcflag_t LocalModes() const {
    termios t{};
    tcgetattr(master_, &t);
    return t.c_lflag;
  }
  const std::string& screen() const { return screen_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string screen_;
};

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class StatusWatchTest : public BatonGroupTest {
 protected:
  std::vector<std::string> WatchArgv() const {
    return {BATON_BIN, "status", "--store", store_, "--group", group_, "--watch"};
  }
  void StartGroupWithAQueue() {
    Start("a");
    ASSERT_TRUE(WaitForGroup({"a"}));
    const auto enqueued =
        test_support::RunCommand({BATON_BIN, "enqueue", "--store", store_, "--group", group_,
                                  "--queue", "jobs", "t1", "t2"});
    ASSERT_TRUE(enqueued.Exited(0)) << enqueued.Describe();
  }
};

TEST_F(StatusWatchTest, RedrawsInPlaceWithTheQueuesAndQuitsOnQ) {
  StartGroupWithAQueue();
  WatchOnATerminal watch(WatchArgv());
  ASSERT_TRUE(watch.started());
  const tcflag_t before = watch.LocalModes();
  // Two draws: each clears the screen and shows the holder, its token and the queue's depth.
  EXPECT_TRUE(watch.ReadUntil(
      [](const std::string& s) { return Count(s, "\033[H\033[2J") >= 2 && Count(s, "quits") >= 2; },
      milliseconds(5000)))
      << watch.screen();
  EXPECT_NE(watch.screen().find("active: a  token 1"), std::string::npos) << watch.screen();
  EXPECT_NE(watch.screen().find("QUEUE"), std::string::npos) << watch.screen();
  EXPECT_NE(watch.screen().find("jobs                            2"), std::string::npos)
      << watch.screen();
  EXPECT_EQ(watch.LocalModes() & ECHO, 0u) << "keys are echoed while watching";
  watch.Type("q");
  EXPECT_EQ(watch.WaitExit(milliseconds(3000)), std::optional<int>(0)) << watch.screen();
  EXPECT_EQ(watch.LocalModes() & (ECHO | ICANON), before & (ECHO | ICANON))
      << "the terminal was not given back as it was";
}

TEST_F(StatusWatchTest, CtrlCQuitsWithExitZeroAndGivesTheTerminalBack) {
  StartGroupWithAQueue();
  WatchOnATerminal watch(WatchArgv());
  ASSERT_TRUE(watch.started());
  const tcflag_t before = watch.LocalModes();
  ASSERT_TRUE(watch.ReadUntil([](const std::string& s) { return Count(s, "quits") >= 1; },
                              milliseconds(5000)))
      << watch.screen();
  watch.Type("x");     // Any other key changes nothing.
  watch.Type("\x03");  // Ctrl-C: the terminal sends SIGINT.
  EXPECT_EQ(watch.WaitExit(milliseconds(3000)), std::optional<int>(0)) << watch.screen();
  EXPECT_EQ(watch.LocalModes() & (ECHO | ICANON), before & (ECHO | ICANON));
}

}  // namespace
}  // namespace baton::process_test
