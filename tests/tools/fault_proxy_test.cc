// The fault proxy (tools/fault_proxy) between a client socket and a local echo server: plain
// forwarding, a delay, a stall, a cut, a cut of only the clients that send a given header,
// and the standalone program's command loop.

#include "fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/wait.h"

extern char** environ;

namespace baton::tools {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test_support::WaitFor;

// A generous bound for "promptly" on a busy 2-core machine.
constexpr milliseconds kPrompt{2000};

int ListenOnLoopback(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 16) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len);
  *port = ntohs(address.sin_port);
  return fd;
}

// Echoes every byte back and closes a connection when its client does. Counts what it
// accepted and received, so a test can tell whether the proxy passed anything on. Runs on
// a thread of its own; the counters may be read from any thread.
class EchoServer final {
 public:
  EchoServer() : listen_fd_(ListenOnLoopback(&port_)), thread_([this] { Loop(); }) {}
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (const pollfd& p : fds_) close(p.fd);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  uint64_t received() const { return received_.load(); }
  // Connections that ended with an error (an RST from the proxy) rather than an EOF.
  int resets() const { return resets_.load(); }

 private:
  void Loop() {
    fds_.push_back({.fd = listen_fd_, .events = POLLIN, .revents = 0});
    char buffer[65536];
    while (!stop_) {
      if (poll(fds_.data(), fds_.size(), 20) <= 0) continue;
      if (fds_[0].revents & POLLIN) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          ++accepted_;
          fds_.push_back({.fd = fd, .events = POLLIN, .revents = 0});
        }
      }
      for (size_t i = 1; i < fds_.size();) {
        if (fds_[i].revents == 0) {
          ++i;
          continue;
        }
        const ssize_t n = recv(fds_[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0) {
          received_ += static_cast<uint64_t>(n);
          // Blocking writes: the test's clients read what they sent.
          for (ssize_t at = 0; at < n;) {
            const ssize_t w = send(fds_[i].fd, buffer + at, static_cast<size_t>(n - at), 0);
            if (w <= 0) break;
            at += w;
          }
          ++i;
          continue;
        }
        if (n < 0 && errno == EAGAIN) {
          ++i;
          continue;
        }
        if (n < 0) ++resets_;
        close(fds_[i].fd);
        fds_.erase(fds_.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }

  int port_ = 0;
  const int listen_fd_;
  std::vector<pollfd> fds_;  // The loop's own: the listening socket, then connections.
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<int> resets_{0};
  std::thread thread_;
};

// A blocking client socket, closed by its destructor.
class Client final {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("cannot connect to the proxy");
    }
  }
  ~Client() { close(fd_); }
  int fd() const { return fd_; }

  void Send(const std::string& bytes) const {
    for (size_t at = 0; at < bytes.size();) {
      const ssize_t n = send(fd_, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << strerror(errno);
      at += static_cast<size_t>(n);
    }
  }
  // Reads until `size` bytes came, the stream ended or `timeout` passed.
  std::string Receive(size_t size, milliseconds timeout = kPrompt) const {
    std::string got;
    const auto end = steady_clock::now() + timeout;
    char buffer[65536];
    while (got.size() < size && Readable(end)) {
      const ssize_t n = recv(fd_, buffer, std::min(sizeof(buffer), size - got.size()), 0);
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }
  // True once the stream has ended: EOF or an error such as ECONNRESET.
  bool Ended(milliseconds timeout = kPrompt) const {
    const auto end = steady_clock::now() + timeout;
    char byte;
    while (Readable(end)) {
      const ssize_t n = recv(fd_, &byte, 1, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool Readable(steady_clock::time_point end) const {
    const auto left = std::chrono::ceil<milliseconds>(end - steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    return poll(&p, 1, static_cast<int>(left.count())) > 0;
  }

  const int fd_;
};

class FaultProxyTest : public ::testing::Test {
 protected:
  FaultProxyTest() : proxy_(FaultProxy::Start("127.0.0.1", echo_.port())) {}

  // The round trip of one byte through the proxy and the echo server.
  milliseconds RoundTrip(const Client& client) {
    const auto start = steady_clock::now();
    client.Send("r");
    EXPECT_EQ(client.Receive(1, milliseconds(5000)), "r");
    return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  }

  EchoServer echo_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FaultProxyTest, ForwardsBothWaysAndCountsTheClientsBytes) {
  EXPECT_GT(proxy_->port(), 0);
  Client client(proxy_->port());
  client.Send("hello");
  EXPECT_EQ(client.Receive(5), "hello");
  EXPECT_EQ(proxy_->client_bytes(), 5u);
  EXPECT_EQ(proxy_->connections(), 1);

  // More than any socket buffer, so that writes block and resume on both legs.
  std::string big(4 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  std::thread sender([&] { client.Send(big); });
  const std::string back = client.Receive(big.size(), milliseconds(20000));
  sender.join();
  EXPECT_TRUE(back == big) << "got " << back.size() << " of " << big.size() << " bytes intact";
  EXPECT_EQ(proxy_->client_bytes(), 5u + big.size());
}

TEST_F(FaultProxyTest, ClosingEndsBothLegs) {
  {
    Client client(proxy_->port());
    client.Send("x");
    EXPECT_EQ(client.Receive(1), "x");
    // The client's end travels to the server, whose close travels back.
    shutdown(client.fd(), SHUT_WR);
    EXPECT_TRUE(client.Ended());
  }
  EXPECT_TRUE(WaitFor([&] { return proxy_->connections() == 0; }, kPrompt));
  EXPECT_EQ(echo_.resets(), 0);
}

TEST_F(FaultProxyTest, DelayHoldsEveryChunkAtLeastThatLongEachWay) {
  constexpr milliseconds kDelay{200};
  Client client(proxy_->port());
  EXPECT_LT(RoundTrip(client), kDelay);
  proxy_->SetDelay(kDelay);
  for (int i = 0; i < 3; ++i) {
    const milliseconds rtt = RoundTrip(client);
    EXPECT_GE(rtt, 2 * kDelay) << "round trip " << i;
    EXPECT_LT(rtt, 2 * kDelay + kPrompt) << "round trip " << i;
  }
  // A new connection is delayed too, and keeps the order of what it sends.
  Client second(proxy_->port());
  const auto start = steady_clock::now();
  second.Send("ab");
  second.Send("cd");
  EXPECT_EQ(second.Receive(4, milliseconds(5000)), "abcd");
  EXPECT_GE(steady_clock::now() - start, 2 * kDelay);

  proxy_->Heal();
  EXPECT_LT(RoundTrip(client), kDelay);
}

TEST_F(FaultProxyTest, StallForwardsNothingUntilHealThenEverything) {
  Client client(proxy_->port());
  RoundTrip(client);
  const uint64_t echoed = echo_.received();
  const int accepted = echo_.accepted();

  proxy_->Stall();
  client.Send("stalled");
  Client late(proxy_->port());  // Accepted, but not connected onward.
  late.Send("late");
  EXPECT_EQ(client.Receive(1, milliseconds(300)), "");
  EXPECT_EQ(late.Receive(1, milliseconds(10)), "");
  EXPECT_EQ(echo_.received(), echoed) << "bytes passed a stalled proxy";
  EXPECT_EQ(echo_.accepted(), accepted) << "a stalled proxy connected onward";
  EXPECT_TRUE(WaitFor([&] { return proxy_->client_bytes() == 1 + 7 + 4; }, kPrompt))
      << "a stalled proxy stopped reading its clients";

  proxy_->Heal();
  EXPECT_EQ(client.Receive(7), "stalled");
  EXPECT_EQ(late.Receive(4), "late");
  EXPECT_EQ(echo_.accepted(), accepted + 1);
  EXPECT_LT(RoundTrip(client), milliseconds(200));
}

TEST_F(FaultProxyTest, CutResetsEveryConnectionAndRefusesNewOnesUntilHeal) {
  Client client(proxy_->port());
  RoundTrip(client);
  const int accepted = echo_.accepted();

  proxy_->Cut();
  EXPECT_TRUE(client.Ended()) << "the client's connection survived a cut";
  EXPECT_TRUE(WaitFor([&] { return echo_.resets() == 1; }, kPrompt))
      << "the server's side was not reset";
  EXPECT_EQ(proxy_->connections(), 0);
  {
    Client refused(proxy_->port());
    EXPECT_TRUE(refused.Ended()) << "a new connection stayed open during a cut";
  }
  EXPECT_EQ(echo_.accepted(), accepted) << "a cut proxy connected onward";

  proxy_->Heal();
  Client again(proxy_->port());
  again.Send("back");
  EXPECT_EQ(again.Receive(4), "back");
}

TEST_F(FaultProxyTest, CutMatchingResetsOnlyTheClientsThatNameTheNeedle) {
  const std::string kFromA = "GET /raft HTTP/1.1\r\nX-Server-From: a1\r\n\r\n";
  const std::string kFromB = "GET /raft HTTP/1.1\r\nX-Server-From: b2\r\n\r\n";
  Client a(proxy_->port());
  Client b(proxy_->port());
  a.Send(kFromA);
  b.Send(kFromB);
  EXPECT_EQ(a.Receive(kFromA.size()), kFromA);
  EXPECT_EQ(b.Receive(kFromB.size()), kFromB);
  const uint64_t echoed = echo_.received();

  proxy_->CutMatching("X-Server-From: a1\r\n");
  EXPECT_TRUE(a.Ended()) << "the named client's connection survived";
  EXPECT_LT(RoundTrip(b), kPrompt);
  {
    // A new connection from the named client is reset before its request is passed on.
    Client again(proxy_->port());
    again.Send(kFromA);
    EXPECT_TRUE(again.Ended());
  }
  EXPECT_EQ(echo_.received(), echoed + 1) << "only b's round trip should have arrived";

  proxy_->Heal();
  Client healed(proxy_->port());
  healed.Send(kFromA);
  EXPECT_EQ(healed.Receive(kFromA.size()), kFromA);
}

TEST_F(FaultProxyTest, UnreachableTargetResetsTheClient) {
  int port = 0;
  const int fd = ListenOnLoopback(&port);
  close(fd);  // Nobody listens there now.
  auto proxy = FaultProxy::Start("127.0.0.1", port);
  Client client(proxy->port());
  EXPECT_TRUE(client.Ended());
}

TEST_F(FaultProxyTest, StartNamesWhatFailed) {
  try {
    FaultProxy::Start("127.0.0.1", echo_.port(), proxy_->port());
    FAIL() << "a second proxy listened on a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(proxy_->port())), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(FaultProxy::Start("no-such-host.invalid", 5432), std::runtime_error);
}

// The program, with its standard input and output on pipes.
class ProxyProgram final {
 public:
  explicit ProxyProgram(const std::vector<std::string>& args) {
    int in[2];
    int out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<std::string> argv_strings = {FAULT_PROXY_BIN};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = fdopen(out[0], "r");
    if (rc != 0) throw std::runtime_error("cannot start " + argv_strings[0]);
  }
  ~ProxyProgram() {
    close(to_);
    fclose(from_);
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Sends a line (unless empty) and returns the next line it prints.
  std::string Say(const std::string& line) {
    if (!line.empty()) {
      const std::string text = line + "\n";
      EXPECT_EQ(write(to_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    }
    char buffer[256];
    if (fgets(buffer, sizeof(buffer), from_) == nullptr) return "<eof>";
    std::string answer = buffer;
    if (!answer.empty() && answer.back() == '\n') answer.pop_back();
    return answer;
  }
  // Its exit code, once it has exited.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  FILE* from_ = nullptr;
};

TEST_F(FaultProxyTest, ProgramPrintsItsPortAndObeysCommands) {
  ProxyProgram program({"--target", "127.0.0.1:" + std::to_string(echo_.port())});
  const int port = std::stoi(program.Say(""));
  Client client(port);
  client.Send("one");
  EXPECT_EQ(client.Receive(3), "one");
  EXPECT_EQ(program.Say("delay 100ms"), "ok");
  EXPECT_EQ(program.Say("delay 100"),
            "error: delay needs a duration with a unit (200ms, 1s), "
            "not \"100\"");
  EXPECT_EQ(program.Say("jump"),
            "error: unknown command \"jump\" (delay DURATION, stall, cut, "
            "heal, quit)");
  EXPECT_EQ(program.Say("stall"), "ok");
  EXPECT_EQ(program.Say("heal"), "ok");
  EXPECT_EQ(program.Say("cut"), "ok");
  EXPECT_TRUE(client.Ended());
  EXPECT_EQ(program.Say("quit"), "<eof>");
  EXPECT_EQ(program.Wait(), 0);
}

TEST_F(FaultProxyTest, ProgramRefusesABadTarget) {
  ProxyProgram program({"--target", "localhost"});
  EXPECT_EQ(program.Say(""), "<eof>");
  EXPECT_EQ(program.Wait(), 2);
}

}  // namespace
}  // namespace baton::tools
