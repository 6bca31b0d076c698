#include "offer_watcher.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "connection.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kOffers =
    "SELECT coalesce((SELECT offers FROM baton_queues WHERE group_name = ?1 AND queue = ?2), 0)";

Result<int64_t> ReadInt(Connection& connection, const char* sql, const QueueKey* queue) {
  Result<Statement> select = connection.Prepare(sql, "watching for offers");
  if (!select) return select.error();
  if (queue != nullptr) select->Bind(queue->group).Bind(queue->queue);
  Result<bool> row = select->Step();
  if (!row) return row.error();
  if (!*row) return Error(ErrorCode::kInternal, "watching for offers: no row");
  return select->Int(0);
}

}  // namespace

OfferWatcher::OfferWatcher(std::string path, std::string describe, Clock& clock, Duration poll,
                           QueueKey queue, std::function<void()> on_offer)
    : path_(std::move(path)),
      describe_(std::move(describe)),
      clock_(clock),
      poll_(poll),
      queue_(std::move(queue)),
      on_offer_(std::move(on_offer)),
      waker_(WriteWaker::Start(path_, [this] { wakeup_.Notify(); })),
      thread_([this] { Loop(); }) {}

OfferWatcher::~OfferWatcher() {
  stop_.store(true);
  wakeup_.Notify();
  thread_.join();
}

void OfferWatcher::Loop() {
  std::unique_ptr<Connection> connection;
  std::optional<int64_t> version;
  std::optional<int64_t> offers;
  TimePoint looking_until{};
  while (!stop_.load()) {
    if (connection == nullptr) {
      // Errors are not reported: a missed wake-up only delays a worker to its next poll.
      Result<std::unique_ptr<Connection>> opened = Connection::Open(path_, describe_);
      if (opened) connection = std::move(*opened);
    }
    if (connection != nullptr) {
      Result<int64_t> now_version = ReadInt(*connection, "PRAGMA data_version", nullptr);
      if (!now_version) {
        connection.reset();
      } else if (*now_version != version) {
        Result<int64_t> now_offers = ReadInt(*connection, kOffers, &queue_);
        if (now_offers) {
          version = *now_version;
          const bool offered = offers && *offers != *now_offers;
          offers = *now_offers;
          if (offered && !stop_.load()) on_offer_();
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
