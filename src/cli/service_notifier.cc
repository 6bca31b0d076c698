#include "service_notifier.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <thread>

#include "baton/timing.h"
#include "store_url.h"

namespace baton::cli {
namespace {

// For tests only, never for production: BATON_TEST_STALL_LOOP_AFTER=D (a duration) makes
// every loop that reports to the notifier block for good, inside its pass, once D has passed
// since start, so a test can watch the WATCHDOG=1 pings stop as they must for a stuck loop.
constexpr const char* kStallVariable = "BATON_TEST_STALL_LOOP_AFTER";

std::optional<Duration> StallAfter() {
  const char* value = std::getenv(kStallVariable);
  if (value == nullptr || *value == '\0') return std::nullopt;
  auto parsed = ParseDuration(value);
  if (!parsed) {
    spdlog::warn("{}={} is not a duration; ignored", kStallVariable, value);
    return std::nullopt;
  }
  spdlog::warn("{}={}: baton's loops will stall on purpose (for tests only)", kStallVariable,
               value);
  return *parsed;
}

std::unique_ptr<systemd::Notifier> MakeNotifier(const std::string& store_url) {
  const systemd::NotifyEnvironment env = systemd::ReadNotifyEnvironment();
  std::unique_ptr<systemd::NotifySocket> socket;
  if (!env.socket.empty()) {
    auto opened = systemd::NotifySocket::Open(env.socket);
    if (opened) {
      socket = std::move(opened).value();
    } else {
      spdlog::warn("not notifying systemd: {}", opened.error().message());
    }
  }
  return std::make_unique<systemd::Notifier>(
      std::move(socket), env.watchdog,
      [store_url](const std::string& message) { return RedactSecrets(message, store_url); });
}

}  // namespace

// Passes every call on, then blocks the loop's thread for good once the stall is due.
class ServiceNotifier::Stall final : public LoopObserver {
 public:
  Stall(LoopObserver& inner, TimePoint at) : inner_(inner), at_(at) {}
  void OnReady() override { inner_.OnReady(); }
  void OnPass(const LoopPass& pass) override {
    inner_.OnPass(pass);
    if (Clock::Real().Now() < at_) return;
    spdlog::warn("{}: this loop stalls now", kStallVariable);
    while (true) std::this_thread::sleep_for(std::chrono::hours(1));
  }

 private:
  LoopObserver& inner_;
  const TimePoint at_;
};

ServiceNotifier::ServiceNotifier(const std::string& store_url)
    : notifier_(MakeNotifier(store_url)),
      stall_after_(StallAfter()),
      started_(Clock::Real().Now()) {}

ServiceNotifier::~ServiceNotifier() = default;

LoopObserver* ServiceNotifier::AddLoop(const std::string& name) {
  LoopObserver& loop = notifier_->AddLoop(name);
  if (!stall_after_) return &loop;
  stalls_.push_back(std::make_unique<Stall>(loop, started_ + *stall_after_));
  return stalls_.back().get();
}

}  // namespace baton::cli
