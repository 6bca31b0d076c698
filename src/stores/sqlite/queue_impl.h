#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "baton/queue.h"
#include "baton/sqlite_store.h"
#include "connection.h"
#include "rows.h"

namespace baton::sqlite_detail {

// The Queue on one SQLite file (see baton/queue.h for the contract). Every write is one
// BEGIN IMMEDIATE transaction touching at most kMaxRowsPerTransaction rows: the file has one
// write lock, which the host's heartbeats need too (SPEC 3.9). Item times are CLOCK_BOOTTIME
// nanoseconds with the boot id, like the leases; rows of an earlier boot are moved to this
// boot when a queue is opened (their claims expired, their delays over).
//
// Thread safety: every method may be called from any thread; one mutex serializes the use of
// the connection. WatchOffers() runs its own thread with its own connection.
class SqliteQueue final : public Queue {
 public:
  SqliteQueue(std::unique_ptr<Connection> connection, const SqliteStoreOptions& options,
              Clock& clock, std::string boot_id);

  // Moves rows of an earlier boot to this one, a bounded batch per transaction.
  Result<void> Rebase();

  Result<OfferReply> Offer(const OfferRequest& request) override;
  Result<RoundReply> StartRound(const RoundRequest& request) override;  // queue_round.cc
  Result<ClaimReply> Claim(const ClaimRequest& request) override;
  Result<ClaimOutcome> Extend(const QueueKey& queue, const ClaimRef& claim,
                              Duration visibility) override;
  Result<std::vector<ClaimOutcome>> Acknowledge(const QueueKey& queue,
                                                const std::vector<ClaimRef>& claims) override;
  Result<FailReply> Fail(const QueueKey& queue, const ClaimRef& claim,
                         const FailRequest& failure) override;
  Result<ClaimOutcome> Release(const QueueKey& queue, const ClaimRef& claim) override;
  Result<std::vector<std::string>> QueueNames(const std::string& group) override;
  Result<std::vector<std::string>> QueueGroups() override;
  Result<QueueStats> Stats(const QueueKey& queue) override;
  Result<std::vector<ItemView>> List(const QueueKey& queue, std::optional<ItemState> state,
                                     int limit) override;
  Result<std::vector<ItemView>> DeadLetters(const QueueKey& queue, int limit) override;
  Result<std::vector<MinuteCounts>> Throughput(const QueueKey& queue, int minutes) override;
  Result<bool> Requeue(const QueueKey& queue, uint64_t id) override;
  Result<int64_t> RequeueDead(const QueueKey& queue) override;
  Result<CancelOutcome> Cancel(const QueueKey& queue, uint64_t id) override;
  Result<PurgeReply> Purge(const QueueKey& queue) override;
  Result<void> Pause(const QueueKey& queue) override;
  Result<void> Resume(const QueueKey& queue) override;
  std::unique_ptr<Subscription> WatchOffers(const QueueKey& queue,
                                            std::function<void()> on_offer) override;
  std::string Describe() const override { return describe_; }

 private:
  // The first column of `sql`'s rows, with `group` bound as ?1 when given.
  Result<std::vector<std::string>> Names(const char* sql, const std::optional<std::string>& group,
                                         const char* what);
  // REQUIRES: mu_ held, in a write transaction, for every helper below.
  StoreTime Now() const;
  // One transaction of an offer: items [begin, end) of `request`.
  Result<bool> OfferBatch(const OfferRequest& request, size_t begin, size_t end, OfferReply& reply);
  // Whether `fence` (none: always) holds for `group` now. Offers and rounds share it.
  Result<bool> FenceHolds(const std::string& group, const std::optional<OfferFence>& fence,
                          const StoreTime& time);
  Result<std::optional<uint64_t>> OfferOne(const OfferRequest& request, const OfferItem& item,
                                           const StoreTime& time);
  Result<void> EnsureTenant(const QueueKey& queue, const std::string& tenant);
  // The claim's steps (queue_claim.cc).
  Result<void> DropExpired(const QueueKey& queue, const StoreTime& time);
  Result<void> TakeBackExpiredClaims(const ClaimRequest& request, const StoreTime& time);
  Result<std::optional<ClaimedItem>> ClaimFrom(const ClaimRequest& request,
                                               const std::string& tenant, const StoreTime& time);
  Result<std::optional<Duration>> NextTry(const QueueKey& queue, const StoreTime& time);
  Result<uint64_t> NextToken();
  // The state of the item if `claim` is its live claim ("running" or "cancelled").
  Result<std::optional<std::string>> LiveState(const QueueKey& queue, const ClaimRef& claim);
  Result<void> DeleteItem(uint64_t id);
  // Acknowledge's work, for it and for Claim (queue_finish.cc).
  Result<std::vector<ClaimOutcome>> AcknowledgeIn(const QueueKey& queue,
                                                  const std::vector<ClaimRef>& claims);
  // Adds to a tenant's totals; `failure` records its time and error.
  Result<void> Count(const QueueKey& queue, const std::string& tenant, const char* column,
                     int64_t n);
  Result<void> NoteOutcome(const QueueKey& queue, const std::string& tenant, bool success,
                           const std::string& error);
  Result<std::string> TenantOf(uint64_t id);
  // A write transaction repeated until `step` reports no more rows (bounded batches).
  Result<int64_t> InBatches(const char* what, const std::function<Result<int>()>& step);
  Result<void> SetPaused(const QueueKey& queue, bool paused);

  const std::string path_;
  const std::string describe_;
  const Duration poll_;
  Clock& clock_;
  const std::string boot_id_;

  std::mutex mu_;  // Guards connection_.
  std::unique_ptr<Connection> connection_;
};

// The pause between two transactions of one bulk write (a big offer, a purge): long enough
// for a writer of another connection waiting for the lock (a heartbeat) to take it. Real
// time on purpose: it yields the file's lock, it times nothing.
inline constexpr std::chrono::microseconds kBatchPause{1000};
void PauseBetweenBatches();

// Wall-clock milliseconds now, for the fields people read.
int64_t WallMillis();
std::chrono::system_clock::time_point FromWallMillis(int64_t ms);

}  // namespace baton::sqlite_detail
