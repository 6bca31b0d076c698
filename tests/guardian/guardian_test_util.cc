#include "guardian_test_util.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace baton::guardian::guardian_test {

std::string TempDir::Script(const std::string& name, const std::string& body) const {
  const std::string path = File(name);
  std::ofstream(path) << body << "\n";
  return path;
}

std::unique_ptr<GuardedChild> MustSpawn(const SpawnOptions& options) {
  auto spawned = GuardedChild::Spawn(options);
  if (!spawned.ok()) {
    ADD_FAILURE() << spawned.error().message();
    return nullptr;
  }
  return std::move(spawned).value();
}

ProcessWatch::ProcessWatch(pid_t pid) : fd_(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))) {}

ProcessWatch::~ProcessWatch() {
  if (fd_ >= 0) close(fd_);
}

bool ProcessWatch::Alive() const {
  if (fd_ < 0) return false;
  pollfd pfd = {fd_, POLLIN, 0};
  return poll(&pfd, 1, 0) == 0;
}

std::optional<TimePoint> ProcessWatch::AwaitExit(Duration timeout) const {
  if (fd_ < 0) return BootClock::now();
  const TimePoint until = BootClock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - BootClock::now());
    pollfd pfd = {fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready > 0) return BootClock::now();
    if (ready == 0) return std::nullopt;
  }
}

std::optional<pid_t> AwaitPidFile(const std::string& path, Duration timeout) {
  const TimePoint until = BootClock::now() + timeout;
  while (BootClock::now() < until) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    const std::string text = content.str();
    if (!text.empty() && text.back() == '\n') return static_cast<pid_t>(std::stol(text));
    std::this_thread::sleep_for(5ms);
  }
  return std::nullopt;
}

pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  char state = 0;
  int ppid = -1;
  if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

SpawnOptions Options(std::vector<std::string> argv) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.env = {"PATH=/usr/bin:/bin"};
  options.guardian_exe = BATON_GUARDIAN_HOST;
  return options;
}

void SleepUntil(TimePoint t) {
  const Duration left = t - BootClock::now();
  if (left > Duration::zero()) std::this_thread::sleep_for(left);
}

void ExpectAliveBefore(const ProcessWatch& watch, TimePoint limit, const char* what) {
  const TimePoint checked = BootClock::now();
  const bool alive = watch.Alive();
  if (checked < limit) {
    EXPECT_TRUE(alive) << what << " died too early";
  }
}

}  // namespace baton::guardian::guardian_test
