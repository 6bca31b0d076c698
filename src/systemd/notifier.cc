#include "notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "baton/timing.h"

namespace baton::systemd {
namespace {

// A status line longer than this is cut: systemctl status shows one line.
constexpr size_t kMaxStatus = 400;

// A newline would end the STATUS= assignment and start another.
std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  if (text.size() > kMaxStatus) text = text.substr(0, kMaxStatus - 3) + "...";
  return text;
}

}  // namespace

// One followed loop: its readiness, its last pass and its state. Guarded by Notifier::mu_.
class Notifier::Loop final : public LoopObserver {
 public:
  Loop(Notifier& owner, std::string loop_name, TimePoint added)
      : notifier(owner), name(std::move(loop_name)), due(added) {}

  void OnReady() override {
    {
      std::lock_guard lock(notifier.mu_);
      ready = true;
    }
    notifier.OnReady();
  }
  void OnPass(const LoopPass& pass) override { notifier.OnPass(*this, pass); }

  Notifier& notifier;
  const std::string name;
  bool ready = false;
  TimePoint due;      // When the loop said it would begin its next pass.
  std::string state;  // Empty until the first pass.
};

Notifier::Notifier(std::unique_ptr<NotifySocket> socket, std::optional<Duration> watchdog,
                   std::function<std::string(const std::string&)> redact, Clock& clock)
    : socket_(std::move(socket)),
      watchdog_(socket_ ? watchdog : std::nullopt),
      redact_(std::move(redact)),
      clock_(clock) {}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_pinging_ = true;
  }
  ping_wakeup_.Notify();
  if (pinger_.joinable()) pinger_.join();
}

LoopObserver& Notifier::AddLoop(std::string name) {
  std::lock_guard lock(mu_);
  loops_.push_back(std::make_unique<Loop>(*this, std::move(name), clock_.Now()));
  return *loops_.back();
}

void Notifier::Start() {
  if (!watchdog_ || pinger_.joinable()) return;
  spdlog::info("systemd watchdog: WATCHDOG=1 every {} while baton's loops go round",
               FormatDuration(*watchdog_ / 2));
  pinger_ = std::thread([this] { PingLoop(); });
}

void Notifier::Send(const std::string& message) {
  if (socket_ && !socket_->Send(message)) {
    spdlog::debug("could not send {} to NOTIFY_SOCKET", message);
  }
}

std::string Notifier::Describe(const Error& error) const {
  const std::string message = redact_ ? redact_(error.message()) : error.message();
  return "store unreachable: " + message;
}

void Notifier::SetStatus(const std::string& text) {
  std::lock_guard lock(mu_);
  status_ = text;
  SendStatusLocked();
}

void Notifier::SetStatusError(const Error& error) { SetStatus(Describe(error)); }

void Notifier::Stopping() {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  stopping_ = true;
  Send("STOPPING=1\nSTATUS=stopping");
  last_sent_status_ = "stopping";
}

void Notifier::OnReady() {
  std::lock_guard lock(mu_);
  if (ready_sent_ || stopping_) return;
  for (const auto& loop : loops_) {
    if (!loop->ready) return;
  }
  ready_sent_ = true;
  Send("READY=1");
}

void Notifier::OnPass(Loop& loop, const LoopPass& pass) {
  std::lock_guard lock(mu_);
  loop.due = pass.next;
  loop.state = pass.error ? Describe(*pass.error) : pass.state;
  SendStatusLocked();
}

std::string Notifier::StatusLocked() const {
  std::string line;
  for (const auto& loop : loops_) {
    if (loop->state.empty()) continue;
    if (!line.empty()) line += "; ";
    if (loops_.size() > 1) line += loop->name + ": ";
    line += loop->state;
  }
  return line.empty() ? status_ : line;
}

void Notifier::SendStatusLocked() {
  if (stopping_) return;
  const std::string status = OneLine(StatusLocked());
  if (status.empty() || status == last_sent_status_) return;
  last_sent_status_ = status;
  Send("STATUS=" + status);
}

bool Notifier::AliveLocked(TimePoint now, std::string& stuck) const {
  for (const auto& loop : loops_) {
    if (now > loop->due + *watchdog_) {
      stuck = loop->name.empty() ? "the main loop" : "the loop of " + loop->name;
      stuck += " has not come back for " + FormatDuration(now - loop->due);
      return false;
    }
  }
  return true;
}

void Notifier::PingLoop() {
  const Duration every = *watchdog_ / 2;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_pinging_) return;
      std::string stuck;
      if (stopping_ || AliveLocked(clock_.Now(), stuck)) {
        if (reported_stuck_) spdlog::info("baton's loops go round again: watchdog pings resume");
        reported_stuck_ = false;
        Send("WATCHDOG=1");
      } else if (!reported_stuck_) {
        reported_stuck_ = true;
        spdlog::error("{}: no more WATCHDOG=1, for systemd to restart baton", stuck);
      }
    }
    clock_.WaitUntil(clock_.Now() + every, ping_wakeup_);
  }
}

}  // namespace baton::systemd
