#include "release_listener.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <random>
#include <utility>

#include "conninfo.h"
#include "listen_pacing.h"

namespace baton::postgres_detail {
namespace {

using std::chrono::milliseconds;

Duration Jittered(Duration d) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Duration>(d * jitter(rng));
}

}  // namespace

void SharedConnection::Install(std::unique_ptr<Connection> opened) {
  opened->SetNotificationWake(notification_wake);
  connection = std::move(opened);
  ++generation;
  SignalEventFd(notification_wake);  // The listener LISTENs on it at once.
}

class ReleaseListener::Watching final : public Subscription {
 public:
  Watching(ReleaseListener& listener, uint64_t id) : listener_(listener), id_(id) {}
  ~Watching() override { listener_.Unwatch(id_); }

 private:
  ReleaseListener& listener_;
  const uint64_t id_;
};

ReleaseListener::ReleaseListener(SharedConnection& shared, ConnectionSettings settings,
                                 Statement read_lease, Statement channel, Clock& clock,
                                 std::shared_ptr<LeaseWatch> watch)
    : shared_(shared),
      settings_(std::move(settings)),
      read_lease_(std::move(read_lease)),
      channel_(std::move(channel)),
      clock_(clock),
      watch_(std::move(watch)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  std::lock_guard lock(shared_.mu);
  shared_.notification_wake = wake_fd_;
  if (shared_.connection != nullptr) shared_.connection->SetNotificationWake(wake_fd_);
}

ReleaseListener::~ReleaseListener() {
  stop_.store(true);
  Wake();
  backoff_wakeup_.Notify();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(shared_.mu);
    shared_.notification_wake = -1;
    if (shared_.connection != nullptr) shared_.connection->SetNotificationWake(-1);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::unique_ptr<Subscription> ReleaseListener::Watch(const LeaseKey& lease,
                                                     std::function<void()> on_release) {
  uint64_t id = 0;
  {
    std::lock_guard lock(watchers_mu_);
    id = next_id_++;
    watchers_.emplace(id, Watcher{.lease = lease, .on_release = std::move(on_release)});
    watchers_changed_ = true;
  }
  std::call_once(started_, [this] { thread_ = std::thread([this] { Loop(); }); });
  Wake();
  return std::make_unique<Watching>(*this, id);
}

void ReleaseListener::Unwatch(uint64_t id) {
  std::lock_guard lock(watchers_mu_);
  watchers_.erase(id);
}

void ReleaseListener::Wake() { SignalEventFd(wake_fd_); }

bool ReleaseListener::Listen(Connection& connection, Heard& heard) {
  std::vector<LeaseKey> leases;
  {
    std::lock_guard lock(watchers_mu_);
    for (const auto& [id, watcher] : watchers_) leases.push_back(watcher.lease);
    watchers_changed_ = false;
  }
  for (const LeaseKey& lease : leases) {
    auto channel = channels_.find(lease.group);
    if (channel == channels_.end()) {
      Result<Rows> found = connection.Exec(channel_, {TextParam(lease.group)});
      if (!found || found->size() != 1) return false;
      channel = channels_.emplace(lease.group, found->Text(0, 0)).first;
    }
    // LISTEN on a channel already listened on is a no-op. The name is 'baton_' and hex
    // digits: nothing to escape.
    if (!connection.Run("LISTEN " + QuoteIdentifier(channel->second), Effect::kRead,
                        "listening for releases")) {
      return false;
    }
    Result<Rows> row =
        connection.Exec(read_lease_, {TextParam(lease.group), TextParam(lease.name)});
    if (!row) return false;
    std::optional<LeaseView> view;
    if (row->size() == 1) {
      view = LeaseView{.holder = row->Text(0, 0),
                       .token = static_cast<uint64_t>(row->Int(0, 1)),
                       .renewals = static_cast<uint64_t>(row->Int(0, 2))};
    }
    heard.leases.emplace_back(lease, std::move(view));
  }
  return true;
}

void ReleaseListener::Dispatch(const Heard& heard) {
  const TimePoint now = clock_.Now();
  for (const auto& [lease, view] : heard.leases) {
    if (view && !view->holder.empty()) {
      watch_->Seen(lease, *view, now);
    } else {
      ReportRelease(lease);
    }
  }
  for (const Connection::Notification& n : heard.notifications) Handle(n.payload, now);
}

void ReleaseListener::Handle(const std::string& payload, TimePoint heard) {
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
  const std::string kind = text("event");
  if (kind != "renew" && kind != "acquire" && kind != "release" && kind != "handover") {
    return;  // A member leaving, or a stranger's payload.
  }
  const LeaseKey lease{.group = text("group"), .name = text("lease")};
  if (!Watches(lease)) return;
  if (kind != "handover") {
    // Heard after the commit, so no earlier than the holder sent it: a safe first sighting.
    watch_->Seen(
        lease,
        LeaseView{
            .holder = text("holder"), .token = number("token"), .renewals = number("renewals")},
        heard);
  }
  // A handover wakes the holder, whose next renewal returns the request.
  if (kind == "release" || kind == "handover") ReportRelease(lease);
}

bool ReleaseListener::Watches(const LeaseKey& lease) {
  std::lock_guard lock(watchers_mu_);
  return std::any_of(watchers_.begin(), watchers_.end(), [&](const auto& entry) {
    return entry.second.lease.group == lease.group && entry.second.lease.name == lease.name;
  });
}

void ReleaseListener::ReportRelease(const LeaseKey& lease) {
  std::lock_guard lock(watchers_mu_);
  for (const auto& [id, watcher] : watchers_) {
    if (watcher.lease.group == lease.group && watcher.lease.name == lease.name && !stop_.load()) {
      watcher.on_release();
    }
  }
}

bool ReleaseListener::Reconnect() {
  // Errors are not reported: a missed release only delays the waiting instance to its next
  // heartbeat, which reports the store's trouble itself.
  Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
  if (!opened) return false;
  std::lock_guard lock(shared_.mu);
  if (shared_.connection == nullptr || shared_.connection->lost()) {
    shared_.Install(std::move(*opened));
  }
  return true;
}

void ReleaseListener::Loop() {
  uint64_t listened = 0;  // The generation of the connection we LISTEN on; 0: none.
  Duration backoff = kFirstBackoff;
  const auto pause = [&] {
    clock_.WaitUntil(clock_.Now() + Jittered(backoff), backoff_wakeup_);
    backoff = std::min(backoff * 2, kMaxBackoff);
  };
  while (!stop_.load()) {
    Heard heard;
    int fd = -1;
    bool connected = false;
    {
      std::lock_guard lock(shared_.mu);
      Connection* connection = shared_.connection.get();
      if (connection != nullptr && !connection->lost()) {
        connected = true;
        bool changed = false;
        {
          std::lock_guard watchers_lock(watchers_mu_);
          changed = watchers_changed_;
        }
        if (listened != shared_.generation || changed) {
          if (listened != shared_.generation) channels_.clear();
          listened = Listen(*connection, heard) ? shared_.generation : 0;
        }
        if (!connection->ConsumeInput()) {
          // Noticed here between calls, the loss would otherwise go unsaid: the next call
          // finds a new connection.
          spdlog::warn("{}: the connection failed: {}; opening another", settings_.describe,
                       connection->error_message());
        }
        while (auto notification = connection->NextNotification()) {
          heard.notifications.push_back(std::move(*notification));
        }
        if (!connection->lost() && listened != 0) fd = dup(connection->socket());
      }
    }
    Dispatch(heard);
    if (!connected) {
      listened = 0;
      if (Reconnect()) {
        backoff = kFirstBackoff;
      } else {
        pause();
      }
      continue;
    }
    if (fd < 0) {
      // Lost while listening: the next round opens another connection, after a pause so a
      // server that refuses us is not hammered.
      pause();
      continue;
    }
    backoff = kFirstBackoff;
    // Our own copy of the socket: a call may drop and replace the connection meanwhile, and
    // the descriptor number must not be reused under this poll().
    std::array<pollfd, 2> fds = {pollfd{.fd = fd, .events = POLLIN, .revents = 0},
                                 pollfd{.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    const int slice_ms = static_cast<int>(std::chrono::ceil<milliseconds>(kListenSlice).count());
    (void)poll(fds.data(), wake_fd_ >= 0 ? 2 : 1, slice_ms);
    close(fd);
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t count = 0;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
  }
}

}  // namespace baton::postgres_detail
