#include "start_log.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sstream>

namespace baton::bench {

int64_t MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::optional<StartLine> ParseStartLine(const std::string& line) {
  std::istringstream in(line);
  std::string word;
  if (!(in >> word) || word != "start") return std::nullopt;
  StartLine parsed;
  int fields = 0;
  while (in >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) return std::nullopt;
    const std::string key = word.substr(0, eq);
    const std::string value = word.substr(eq + 1);
    if (key == "token") {
      parsed.token = std::strtoull(value.c_str(), nullptr, 10);
    } else if (key == "instance") {
      parsed.instance = value;
    } else if (key == "pid") {
      parsed.pid = std::atoi(value.c_str());
    } else if (key == "mono_ns") {
      parsed.mono_ns = std::strtoll(value.c_str(), nullptr, 10);
    } else if (key == "overlap") {
      parsed.overlap = value == "1";
    } else {
      continue;
    }
    ++fields;
  }
  if (fields != 5) return std::nullopt;
  return parsed;
}

int ChildMain(const std::string& fifo_path, const std::string& lock_path) {
  // First, so the stamp is as close to the exec as this process can get.
  const int64_t started = MonoNs();

  // Blocked before anything else so a SIGTERM that comes early is still taken by
  // sigwaitinfo() below and ends the child at once, never the default handler halfway
  // through writing its line.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);

  bool overlap = false;
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) != 0) overlap = errno == EWOULDBLOCK;
  // The descriptor stays open, and the lock held, until the process ends.

  // Under `etcdctl lock` the lock's revision stands in for baton's token: it too grows with
  // every acquisition.
  const char* token = std::getenv("BATON_TOKEN");
  if (token == nullptr) token = std::getenv("ETCD_LOCK_REV");
  const char* instance = std::getenv("BATON_INSTANCE");
  char line[512];
  const int n = std::snprintf(
      line, sizeof line, "start token=%s instance=%s pid=%d mono_ns=%lld overlap=%d\n",
      token != nullptr ? token : "0", instance != nullptr ? instance : "none",
      static_cast<int>(getpid()), static_cast<long long>(started), overlap ? 1 : 0);
  // O_NONBLOCK: with no reader the open fails (ENXIO) instead of hanging the child. A line
  // shorter than PIPE_BUF is written whole or not at all.
  const int fifo = open(fifo_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0 || write(fifo, line, static_cast<size_t>(n)) != n) {
    std::fprintf(stderr, "bench child: cannot report its start: %s\n", std::strerror(errno));
  }
  if (fifo >= 0) close(fifo);

  // A child that started beside another (etcdctl lock leaves its child running when it dies)
  // takes the flock once the other is gone, so the next overlap is still seen.
  const timespec lock_retry{0, 10'000'000};
  while (overlap && lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (sigtimedwait(&stop, nullptr, &lock_retry) > 0) return 0;
  }
  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  return 0;
}

std::optional<StartLog> StartLog::Open(const std::string& fifo_path) {
  const int fd = open(fifo_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return StartLog(fd);
}

StartLog::StartLog(StartLog&& other) noexcept : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

StartLog::~StartLog() {
  if (fd_ >= 0) close(fd_);
}

std::optional<StartLine> StartLog::Next(std::chrono::milliseconds timeout) {
  const int64_t deadline = MonoNs() + timeout.count() * 1'000'000;
  while (true) {
    for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
      const std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (auto parsed = ParseStartLine(line)) return parsed;
      std::fprintf(stderr, "bench: ignoring unexpected line from a child: %s\n", line.c_str());
    }
    const int64_t left_ms = (deadline - MonoNs()) / 1'000'000;
    if (left_ms <= 0) return std::nullopt;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready <= 0) continue;
    char chunk[4096];
    const ssize_t got = read(fd_, chunk, sizeof chunk);
    if (got > 0) buffer_.append(chunk, static_cast<size_t>(got));
  }
}

}  // namespace baton::bench
