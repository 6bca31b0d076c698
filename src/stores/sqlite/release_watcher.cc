#include "release_watcher.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "connection.h"
#include "rows.h"

namespace baton::sqlite_detail {
namespace {

// What the watcher last saw of the lease, to report each release and each handover request
// once.
struct Seen {
  bool free = false;
  uint64_t token = 0;
  bool handover = false;  // A handover of the held interval `token` was asked for.
};

Result<int64_t> DataVersion(Connection& connection) {
  Result<Statement> pragma = connection.Prepare("PRAGMA data_version", "watching for releases");
  if (!pragma) return pragma.error();
  Result<bool> row = pragma->Step();
  if (!row) return row.error();
  if (!*row) return Error(ErrorCode::kInternal, "PRAGMA data_version returned no row");
  return pragma->Int(0);
}

}  // namespace

ReleaseWatcher::ReleaseWatcher(std::string path, std::string describe, Clock& clock, Duration poll,
                               LeaseKey lease, std::function<void()> on_release)
    : path_(std::move(path)),
      describe_(std::move(describe)),
      clock_(clock),
      poll_(poll),
      lease_(std::move(lease)),
      on_release_(std::move(on_release)),
      waker_(WriteWaker::Start(path_, [this] { wakeup_.Notify(); })),
      thread_([this] { Loop(); }) {}

ReleaseWatcher::~ReleaseWatcher() {
  stop_.store(true);
  wakeup_.Notify();
  thread_.join();
}

void ReleaseWatcher::Loop() {
  std::unique_ptr<Connection> connection;
  std::optional<int64_t> version;
  std::optional<Seen> seen;
  TimePoint looking_until{};
  while (!stop_.load()) {
    if (connection == nullptr) {
      // Errors are not reported: a failed look only delays a release to the waiting
      // instance's next heartbeat, which the contract allows. The next poll tries again.
      Result<std::unique_ptr<Connection>> opened = Connection::Open(path_, describe_);
      if (opened) connection = std::move(*opened);
    }
    if (connection != nullptr) {
      Result<int64_t> now_version = DataVersion(*connection);
      if (!now_version) {
        connection.reset();
      } else if (*now_version != version) {
        Result<std::optional<LeaseRow>> row = ReadLease(*connection, lease_);
        if (row) {
          version = *now_version;
          Seen current{.free = !*row || (*row)->holder.empty(), .token = *row ? (*row)->token : 0};
          if (!current.free) {
            Result<std::optional<std::string>> handover =
                ReadHandover(*connection, lease_, current.token);
            current.handover = handover && handover->has_value();
          }
          const bool same_interval =
              seen && seen->free == current.free && seen->token == current.token;
          const bool released = current.free && !same_interval;
          const bool asked = current.handover && !(same_interval && seen->handover);
          seen = current;
          if ((released || asked) && !stop_.load()) on_release_();
        }
      }
    }
    // With the waker, a write wakes the loop, which then looks every poll_ for kAfterWrite
    // (the commit may not show yet); otherwise the poll is only a safety net.
    const TimePoint now = clock_.Now();
    const bool quick = waker_ == nullptr || now < looking_until;
    if (clock_.WaitUntil(now + (quick ? poll_ : kSafetyPoll), wakeup_)) {
      looking_until = clock_.Now() + kAfterWrite;
    }
  }
}

}  // namespace baton::sqlite_detail
