#include "harness.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cluster.h"
#include "duration.h"
#include "start_log.h"

namespace baton::bench {
namespace {

std::atomic<bool> g_interrupted{false};

}  // namespace

std::chrono::nanoseconds RunOptions::Ttl() const { return *ParseDuration(ttl); }

std::chrono::nanoseconds RunOptions::Heartbeat() const {
  return heartbeat.empty() ? Ttl() / 5 : *ParseDuration(heartbeat);
}

std::vector<std::string> RunOptions::ExtraRunArgs() const {
  if (heartbeat.empty()) return {};
  return {"--heartbeat", heartbeat};
}

CLI::Validator DurationText() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        return ParseDuration(text) ? "" : text + " is not a duration like 200ms, 1s or 2m";
      },
      "DURATION");
}

CLI::Validator AtLeast(int minimum, const std::string& why) {
  return CLI::Validator(
      [minimum, why](const std::string& text) -> std::string {
        char* end = nullptr;
        const long n = std::strtol(text.c_str(), &end, 10);
        if (end != text.c_str() && *end == '\0' && n >= minimum) return "";
        return text + " is not a whole number of at least " + std::to_string(minimum) +
               (why.empty() ? "" : " (" + why + ")");
      },
      "N>=" + std::to_string(minimum));
}

void AddRunOptions(CLI::App& app, RunOptions& options) {
  app.add_option("--baton", options.baton, "The baton program")
      ->required()
      ->check([](const std::string& path) -> std::string {
        return access(path.c_str(), X_OK) == 0 ? "" : path + " is not executable";
      });
  app.add_option("--ttl", options.ttl, "The instances' --ttl (default 1s)")->check(DurationText());
  app.add_option("--heartbeat", options.heartbeat, "The instances' --heartbeat (default ttl/5)")
      ->check(DurationText());
  app.add_flag("--keep", options.keep, "Keep the instance logs even when nothing broke");
}

void ParseOrExit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    std::exit(code == 0 ? 0 : 2);
  }
}

void StopOnSignals() {
  struct sigaction on_stop {};
  on_stop.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &on_stop, nullptr);
  sigaction(SIGTERM, &on_stop, nullptr);
}

bool Supervise() {
  if (!Cluster::BecomeSubreaper()) {
    std::fprintf(stderr, "bench: cannot become a child subreaper: %s\n", std::strerror(errno));
    return false;
  }
  StopOnSignals();
  return true;
}

bool Interrupted() { return g_interrupted; }

bool Sleep(std::chrono::nanoseconds how_long) {
  using std::chrono::milliseconds;
  using std::chrono::nanoseconds;
  for (const int64_t end = MonoNs() + how_long.count(); MonoNs() < end;) {
    if (g_interrupted) return false;
    std::this_thread::sleep_for(
        std::min<nanoseconds>(milliseconds(50), nanoseconds(end - MonoNs())));
  }
  return !g_interrupted;
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

double LoadAverage() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : 0;
}

std::optional<std::string> MakeScratchDir(const std::string& prefix) {
  std::string path = "/tmp/" + prefix + "-XXXXXX";
  if (mkdtemp(path.data()) == nullptr) {
    std::fprintf(stderr, "bench: mkdtemp %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  return path;
}

void KeepOrRemove(const std::string& dir, bool keep) {
  if (keep) {
    std::fprintf(stderr, "bench: instance logs kept in %s\n", dir.c_str());
    return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace baton::bench
