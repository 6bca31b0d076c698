#include "release_watcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <utility>

#include "conninfo.h"

namespace baton::postgres_detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Duration kFirstBackoff = milliseconds(50);
constexpr Duration kMaxBackoff = seconds(5);
// How long one wait for notifications lasts before the thread looks at its stop flag again;
// a stop also ends it at once through the eventfd.
constexpr Duration kListenSlice = seconds(5);

Duration Jittered(Duration d) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Duration>(d * jitter(rng));
}

}  // namespace

ReleaseWatcher::ReleaseWatcher(ConnectionSettings settings, Statement read_lease, Statement channel,
                               Clock& clock, std::shared_ptr<LeaseWatch> watch, LeaseKey lease,
                               std::function<void()> on_release)
    : settings_(std::move(settings)),
      read_lease_(std::move(read_lease)),
      channel_(std::move(channel)),
      clock_(clock),
      watch_(std::move(watch)),
      lease_(std::move(lease)),
      on_release_(std::move(on_release)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      thread_([this] { Loop(); }) {}

ReleaseWatcher::~ReleaseWatcher() {
  stop_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  wakeup_.Notify();
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ReleaseWatcher::Report() {
  if (!stop_.load()) on_release_();
}

bool ReleaseWatcher::Listen(Connection& connection) {
  Result<Rows> channel = connection.Exec(channel_, {TextParam(lease_.group)});
  if (!channel || channel->size() != 1) return false;
  listening_on_ = channel->Text(0, 0);
  // The name is 'baton_' and hex digits: nothing to escape.
  if (!connection.Run("LISTEN " + QuoteIdentifier(listening_on_), Effect::kRead,
                      "listening for releases")) {
    return false;
  }
  Result<Rows> lease =
      connection.Exec(read_lease_, {TextParam(lease_.group), TextParam(lease_.name)});
  if (!lease) return false;
  if (lease->size() == 0 || lease->Text(0, 0).empty()) {
    Report();
  } else {
    watch_->Seen(lease_,
                 LeaseView{.holder = lease->Text(0, 0),
                           .token = static_cast<uint64_t>(lease->Int(0, 1)),
                           .renewals = static_cast<uint64_t>(lease->Int(0, 2))},
                 clock_.Now());
  }
  return true;
}

void ReleaseWatcher::Handle(const std::string& payload) {
  const TimePoint heard = clock_.Now();
  // Anyone allowed to connect may NOTIFY on our channel: a payload that is not ours is
  // ignored, never thrown out of this thread.
  const nlohmann::json event = nlohmann::json::parse(payload, nullptr, false);
  if (!event.is_object()) return;
  const auto text = [&](const char* key) {
    auto it = event.find(key);
    return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto number = [&](const char* key) {
    auto it = event.find(key);
    return it != event.end() && it->is_number_unsigned() ? it->get<uint64_t>() : uint64_t{0};
  };
  if (text("group") != lease_.group || text("lease") != lease_.name) {
    return;  // Another lease of the group, a member leaving, or a hash collision.
  }
  const std::string kind = text("event");
  const LeaseView seen{
      .holder = text("holder"), .token = number("token"), .renewals = number("renewals")};
  if (kind == "renew" || kind == "acquire") {
    // Heard after the commit, so no earlier than the holder sent it: a safe first sighting.
    watch_->Seen(lease_, seen, heard);
  } else if (kind == "release") {
    watch_->Seen(lease_, seen, heard);
    Report();
  } else if (kind == "handover") {
    Report();  // Wakes the holder, whose next renewal returns the request.
  }
}

void ReleaseWatcher::Loop() {
  std::unique_ptr<Connection> connection;
  Duration backoff = kFirstBackoff;
  while (!stop_.load()) {
    if (connection == nullptr) {
      // Errors are not reported: a missed release only delays the waiting instance to its
      // next heartbeat.
      Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
      if (opened && Listen(**opened)) {
        connection = std::move(*opened);
        backoff = kFirstBackoff;
      } else {
        clock_.WaitUntil(clock_.Now() + Jittered(backoff), wakeup_);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
    }
    const bool alive = connection->AwaitInput(BootClock::now() + kListenSlice, wake_fd_);
    while (auto notification = connection->NextNotification()) {
      if (notification->channel == listening_on_) Handle(notification->payload);
    }
    if (!alive) connection.reset();
  }
}

}  // namespace baton::postgres_detail
