#include "offer_watcher.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include "conninfo.h"
#include "listen_pacing.h"

namespace baton::postgres_detail {

OfferWatcher::OfferWatcher(ConnectionSettings settings, Statement channel, Clock& clock,
                           QueueKey queue, std::function<void()> on_offer)
    : settings_(std::move(settings)),
      channel_(std::move(channel)),
      clock_(clock),
      queue_(std::move(queue)),
      on_offer_(std::move(on_offer)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      thread_([this] { Loop(); }) {}

OfferWatcher::~OfferWatcher() {
  stop_.store(true);
  SignalEventFd(wake_fd_);
  wakeup_.Notify();
  thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

bool OfferWatcher::Listen(Connection& connection) {
  Result<Rows> channel =
      connection.Exec(channel_, {TextParam(queue_.group), TextParam(queue_.queue)});
  if (!channel || channel->size() != 1) return false;
  listening_on_ = channel->Text(0, 0);
  // The name is 'baton_q_' and hex digits: nothing to escape.
  return connection
      .Run("LISTEN " + QuoteIdentifier(listening_on_), Effect::kRead, "listening for offers")
      .ok();
}

void OfferWatcher::Loop() {
  std::unique_ptr<Connection> connection;
  Duration backoff = kFirstBackoff;
  while (!stop_.load()) {
    if (connection == nullptr) {
      Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
      if (opened && Listen(**opened)) {
        connection = std::move(*opened);
        backoff = kFirstBackoff;
        if (!stop_.load()) on_offer_();  // What came while we were not listening.
      } else {
        clock_.WaitUntil(clock_.Now() + backoff, wakeup_);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
    }
    const bool alive = connection->AwaitInput(BootClock::now() + kListenSlice, wake_fd_);
    bool offered = false;
    while (auto notification = connection->NextNotification()) {
      if (notification->channel == listening_on_) offered = true;
    }
    if (offered && !stop_.load()) on_offer_();
    if (!alive) connection.reset();
  }
}

}  // namespace baton::postgres_detail
