#include "enqueuer.h"

#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "record.h"
#include "support/process.h"
#include "support/wait.h"
#include "workers.h"

namespace baton::chaos {
namespace {

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// What one batch of items is told to do (the payload: baton-chaos-item's probe flags).
struct Work {
  int sleep_ms = 0;
  int exit_code = 0;
  int fail_until = 0;
  int64_t ttl_ms = 0;  // 0: none.
};

Work ChooseWork(const EnqueuerOptions& options, std::mt19937_64& rng) {
  Work work;
  work.sleep_ms =
      std::uniform_int_distribution<int>(options.sleep_min_ms, options.sleep_max_ms)(rng);
  const int kind = std::uniform_int_distribution<int>(0, 99)(rng);
  if (kind < 5) {
    work.exit_code = 65;  // Poison: dead at once.
  } else if (kind < 10) {
    // Fails every attempt: dead once the attempts are used up.
    work.fail_until = EnqueuedItem::kFailsAlways;
  } else if (kind < 18) {
    work.fail_until = 2;  // Fails twice, then succeeds.
  } else if (kind < 40) {
    // Some expire while their tenant is busy or its worker paused, some do not.
    work.ttl_ms = std::uniform_int_distribution<int64_t>(200, 3000)(rng);
  }
  // Some slow ones: past the grace (a stopping worker must release them), past visibility/3
  // (their claims must be extended) and past the visibility (one lost extension must not
  // cost them the claim). Not those that always fail: 8 slow attempts in a row of one tenant
  // would hold up the drain.
  if (options.slow_max_ms > 0 && work.fail_until < EnqueuedItem::kFailsAlways &&
      std::uniform_int_distribution<int>(0, 99)(rng) < 12) {
    work.sleep_ms =
        std::uniform_int_distribution<int>(options.slow_min_ms, options.slow_max_ms)(rng);
  }
  return work;
}

}  // namespace

void Enqueuer::Start() {
  thread_ = std::thread([this] { Feed(); });
}

void Enqueuer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Enqueuer::Feed() {
  const std::string& dir = options_.record_dir;
  std::ofstream log(dir + "/enqueued.log", std::ios::app);
  std::ofstream errors(dir + "/enqueue-errors.log", std::ios::app);
  const std::string payload_file = dir + "/payload";
  std::mt19937_64 rng(options_.seed ^ 0x9e3779b97f4a7c15ULL);
  while (!stop_) {
    char name[16];
    std::snprintf(name, sizeof name, "t%02d",
                  std::uniform_int_distribution<int>(1, options_.tenants)(rng));
    const std::string tenant = name;
    const int count = std::uniform_int_distribution<int>(1, 4)(rng);
    const Work work = ChooseWork(options_, rng);
    std::ofstream(payload_file, std::ios::trunc)
        << "--sleep " << work.sleep_ms << " --exit-code " << work.exit_code << " --fail-until "
        << work.fail_until;

    std::vector<std::string> argv = {
        options_.baton_bin, "enqueue", "--store",       options_.store_url, "--group",
        Workers::kGroup,    "--queue", Workers::kQueue, "--payload-file",   payload_file};
    if (work.ttl_ms > 0)
      argv.insert(argv.end(), {"--item-ttl", std::to_string(work.ttl_ms) + "ms"});
    argv.push_back("--");
    for (int i = 0; i < count; ++i) argv.push_back(tenant);
    const test_support::CommandResult result =
        test_support::RunCommand(argv, std::chrono::seconds(15));

    std::vector<uint64_t> ids;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
      try {
        ids.push_back(std::stoull(line));
      } catch (const std::exception&) {
      }
    }
    const int64_t now = test_support::MonoNowNs();
    for (uint64_t id : ids) {
      log << "enqueue item=" << id << " tenant=" << Hex(tenant) << " ttl_ms=" << work.ttl_ms
          << " exit_code=" << work.exit_code << " fail_until=" << work.fail_until
          << " mono_ns=" << now << "\n";
    }
    enqueued_ += static_cast<int>(ids.size());
    if (!result.Exited(0) || static_cast<int>(ids.size()) != count) {
      log << "enqueue-failed tenant=" << Hex(tenant)
          << " count=" << count - static_cast<int>(ids.size()) << " mono_ns=" << now << "\n";
      errors << "at mono_ns=" << now << ": " << result.Describe() << "\n";
      ++failed_;
    }
    log.flush();
    const int pause_ms = std::uniform_int_distribution<int>(60, 300)(rng);
    for (int slept = 0; slept < pause_ms && !stop_; slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

}  // namespace baton::chaos
