// systemd's notify protocol as real `baton` processes speak it, heard on an AF_UNIX datagram
// socket the test binds in place of systemd's: READY=1 once registered, STATUS= lines, and
// WATCHDOG=1 while baton's own loop goes round, whether or not its store answers, and never
// once the loop is stuck. Also that no child inherits NOTIFY_SOCKET.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace baton::process_test {
namespace {

using namespace std::chrono_literals;
using test_support::Process;
using test_support::ReadFile;
using test_support::WaitFor;

constexpr const char* kWatchdogUsec = "WATCHDOG_USEC=200000";  // Pings every 100 ms.

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The notify socket: every datagram received, in order, with baton's log as it was when the
// datagram came (to tell what had happened by then).
class NotifySocket final {
 public:
  NotifySocket(const std::string& path, const std::string& log_path)
      : path_(path), log_path_(log_path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("bind " + path + ": " + std::strerror(errno));
    }
    timeval poll{0, 50'000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &poll, sizeof poll);
    reader_ = std::thread([this] { Read(); });
  }
  ~NotifySocket() {
    done_ = true;
    reader_.join();
    close(fd_);
  }

  struct Message {
    std::string text;
    std::chrono::steady_clock::time_point at;
    std::string log;  // baton's output when it came.
  };

  std::vector<Message> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // The first message with a line that starts with `prefix`, waiting up to `timeout`.
  std::optional<Message> Await(const std::string& prefix, std::chrono::milliseconds timeout) {
    std::optional<Message> found;
    WaitFor([&] { return (found = Find(prefix)).has_value(); }, timeout);
    return found;
  }
  std::optional<Message> Find(const std::string& prefix) const {
    for (const Message& m : messages()) {
      if (HasLine(m.text, prefix)) return m;
    }
    return std::nullopt;
  }
  size_t Count(const std::string& line) const {
    size_t n = 0;
    for (const Message& m : messages()) n += HasLine(m.text, line) ? 1 : 0;
    return n;
  }
  std::vector<std::string> Statuses() const {
    std::vector<std::string> out;
    for (const Message& m : messages()) {
      size_t at = m.text.find("STATUS=");
      if (at != std::string::npos) out.push_back(m.text.substr(at + 7, m.text.find('\n', at)));
    }
    return out;
  }
  const std::string& path() const { return path_; }

 private:
  static bool HasLine(const std::string& text, const std::string& prefix) {
    for (size_t at = 0; at < text.size();) {
      if (text.compare(at, prefix.size(), prefix) == 0) return true;
      const size_t nl = text.find('\n', at);
      if (nl == std::string::npos) break;
      at = nl + 1;
    }
    return false;
  }
  void Read() {
    char buffer[4096];
    while (!done_) {
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) continue;
      Message m{std::string(buffer, static_cast<size_t>(n)), std::chrono::steady_clock::now(),
                ReadFile(log_path_)};
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(m));
    }
  }

  const std::string path_;
  const std::string log_path_;
  int fd_ = -1;
  std::atomic<bool> done_{false};
  mutable std::mutex mu_;
  std::vector<Message> messages_;
  std::thread reader_;
};

class SystemdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override { test_support::BecomeSubreaper(); }
  void TearDown() override { test_support::KillDescendants(); }

  // `baton SUBCOMMAND` with the notify socket and a 200 ms watchdog in its environment.
  Process Start(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), BATON_BIN);
    env.push_back("NOTIFY_SOCKET=" + socket_.path());
    env.push_back(kWatchdogUsec);
    return Process::Spawn(
        {.argv = args, .extra_env = env, .stdout_path = log_, .stderr_path = log_});
  }
  std::vector<std::string> RunArgs(const std::string& id, std::vector<std::string> command) {
    std::vector<std::string> args = {"run",  "--store", store_,  "--group", "g",
                                     "--id", id,        "--ttl", "1s",      "--"};
    args.insert(args.end(), command.begin(), command.end());
    return args;
  }
  // WATCHDOG=1 pings that arrive within `window` from now.
  size_t PingsWithin(std::chrono::milliseconds window) {
    const size_t before = socket_.Count("WATCHDOG=1");
    std::this_thread::sleep_for(window);
    return socket_.Count("WATCHDOG=1") - before;
  }
  std::string Describe() const {
    std::string text = "messages:\n";
    for (const auto& m : socket_.messages()) text += "  " + m.text + "\n";
    return text + "baton's output:\n" + ReadFile(log_);
  }

  test_support::TempDir dir_{"notify"};
  const std::string store_ = "sqlite:" + dir_.File("baton.db");
  const std::string log_ = dir_.File("baton.log");
  NotifySocket socket_{dir_.File("notify.sock"), log_};
};

TEST_F(SystemdNotifyTest, RunIsReadyOnceRegisteredSaysItsTokenAndPingsTheWatchdog) {
  Process baton = Start(RunArgs("a", {"/bin/sleep", "600"}));
  const auto ready = socket_.Await("READY=1", 10s);
  ASSERT_TRUE(ready) << Describe();
  EXPECT_TRUE(Contains(ready->log, "registered as a")) << "READY=1 before registration\n"
                                                       << Describe();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& s : socket_.Statuses()) {
          if (s.rfind("active with token ", 0) == 0) return true;
        }
        return false;
      },
      5s))
      << Describe();
  // 100 ms apart: about ten a second; a loaded machine may lose a few.
  EXPECT_GE(PingsWithin(1s), 5u) << Describe();
  baton.Terminate();
  EXPECT_TRUE(socket_.Await("STOPPING=1", 5s)) << Describe();
  const auto exit = baton.WaitExit(10s);
  ASSERT_TRUE(exit) << Describe();
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
}

TEST_F(SystemdNotifyTest, PassiveInstanceNamesTheActiveOne) {
  Process a = Start(RunArgs("a", {"/bin/sleep", "600"}));
  ASSERT_TRUE(socket_.Await("STATUS=active with token", 10s)) << Describe();
  // The second instance shares the socket; its lines are told apart by their text.
  Process b = Start(RunArgs("b", {"/bin/sleep", "600"}));
  EXPECT_TRUE(socket_.Await("STATUS=passive (active: a)", 10s)) << Describe();
}

// A PostgreSQL store on a port where nothing listens: baton retries (SPEC 5) and keeps
// pinging the watchdog, so an outage does not make systemd restart it, and says why in its
// status, with the URL's password blanked.
TEST_F(SystemdNotifyTest, WatchdogGoesOnWhileTheStoreIsUnreachable) {
  const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t length = sizeof addr;
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  // Bound, never listening: connections are refused, and no other test can take the port.
  const std::string url =
      "postgresql://baton:sekrit@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/baton";
  Process baton = Start({"run", "--store", url, "--group", "g", "--id", "a", "--ttl", "1s", "--",
                         "/bin/sleep", "600"});
  const auto status = socket_.Await("STATUS=store unreachable: ", 10s);
  ASSERT_TRUE(status) << Describe();
  EXPECT_FALSE(Contains(status->text, "sekrit")) << status->text;
  EXPECT_GE(PingsWithin(1500ms), 7u) << Describe();
  EXPECT_FALSE(socket_.Find("READY=1")) << "ready without having registered\n" << Describe();
  baton.Terminate();
  EXPECT_TRUE(baton.WaitExit(10s)) << Describe();
  close(holder);
}

// A loop that stops going round (BATON_TEST_STALL_LOOP_AFTER blocks it inside a pass) stops
// the pings: systemd then restarts baton, as it must for a hung process.
TEST_F(SystemdNotifyTest, StuckLoopStopsTheWatchdogPings) {
  Process baton =
      Start(RunArgs("a", {"/bin/sleep", "600"}), {"BATON_TEST_STALL_LOOP_AFTER=1500ms"});
  ASSERT_TRUE(socket_.Await("READY=1", 10s)) << Describe();
  EXPECT_GE(PingsWithin(1s), 5u) << "no pings before the stall\n" << Describe();
  // The stall comes 1.5 s after start; the loop said it would be back within a heartbeat
  // (200 ms), and the pings stop a watchdog interval (200 ms) after that.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(PingsWithin(1s), 0u) << Describe();
  EXPECT_TRUE(Contains(ReadFile(log_), "no more WATCHDOG=1")) << Describe();
}

TEST_F(SystemdNotifyTest, ChildrenDoNotInheritTheNotifySocket) {
  const std::string env_file = dir_.File("env.txt");
  Process baton = Start(RunArgs("a", {"/bin/sh", "-c",
                                      "env > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; "
                                      "exec sleep 600",
                                      env_file}));
  ASSERT_TRUE(WaitFor([&] { return !ReadFile(env_file).empty(); }, 10s)) << Describe();
  const std::string env = ReadFile(env_file);
  EXPECT_TRUE(Contains(env, "BATON_TOKEN=")) << env;
  EXPECT_FALSE(Contains(env, "NOTIFY_SOCKET")) << env;
  EXPECT_FALSE(Contains(env, "WATCHDOG_USEC")) << env;
}

TEST_F(SystemdNotifyTest, WorkIsReadyAfterItsFirstClaimAndItsItemsGetNoNotifySocket) {
  const std::string env_file = dir_.File("item-env.txt");
  const auto enqueued = test_support::RunCommand(
      {BATON_BIN, "enqueue", "--store", store_, "--group", "g", "--queue", "q", "--", "t1"});
  ASSERT_TRUE(enqueued.Exited(0)) << enqueued.Describe();
  Process baton = Start({"work", "--store", store_, "--group", "g", "--queue", "q", "--", "/bin/sh",
                         "-c", "env > \"$0\"", env_file});
  ASSERT_TRUE(socket_.Await("READY=1", 10s)) << Describe();
  ASSERT_TRUE(socket_.Await("STATUS=working: 0 running, 1 done", 10s)) << Describe();
  const std::string env = ReadFile(env_file);
  EXPECT_TRUE(Contains(env, "BATON_TENANT=t1")) << env;
  EXPECT_FALSE(Contains(env, "NOTIFY_SOCKET")) << env;
  EXPECT_GE(PingsWithin(1s), 5u) << Describe();
  baton.Terminate();
  EXPECT_TRUE(socket_.Await("STOPPING=1", 5s)) << Describe();
  EXPECT_TRUE(baton.WaitExit(10s)) << Describe();
}

// serve: ready once every hosted service is, and one STATUS= line naming each.
TEST_F(SystemdNotifyTest, ServeIsReadyOnceEveryServiceIsAndNamesEachInItsStatus) {
  const std::string config = dir_.File("serve.toml");
  test_support::WriteFile(config,
                          "group = \"g\"\n"
                          "[run.billing]\nttl = \"1s\"\ncommand = [\"/bin/sleep\", \"600\"]\n"
                          "[work.sync]\nqueue = \"q\"\ncommand = [\"/bin/true\"]\n");
  Process baton = Start({"serve", "--store", store_, "--config", config});
  ASSERT_TRUE(socket_.Await("READY=1", 10s)) << Describe();
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const std::string& s : socket_.Statuses()) {
          if (Contains(s, "run.billing: active with token ") &&
              Contains(s, "work.sync: working: 0 running, 0 done")) {
            return true;
          }
        }
        return false;
      },
      5s))
      << Describe();
  EXPECT_GE(PingsWithin(1s), 5u) << Describe();
  baton.Terminate();
  EXPECT_TRUE(socket_.Await("STOPPING=1", 5s)) << Describe();
  const auto exit = baton.WaitExit(10s);
  ASSERT_TRUE(exit) << Describe();
  EXPECT_TRUE(exit->Exited(0)) << exit->Describe();
}

}  // namespace
}  // namespace baton::process_test
