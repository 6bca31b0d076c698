#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "baton/postgres_store.h"
#include "baton/queue.h"
#include "claim_watch.h"
#include "connection.h"
#include "connection_pool.h"

namespace baton::postgres_detail {

// The statements of one queue handle, with its schema's name in them.
struct QueueStatements {
  explicit QueueStatements(const std::string& schema);
  Statement offer, claim, extend, ack, fail, release;
  Statement names, groups, paused, depths, tenants_pending, oldest, totals, tenants, list;
  Statement throughput;
  Statement requeue, requeue_dead, cancel, purge, set_paused, channel, start_round;
  Statement gather_statistics;
};

// The Queue on a PostgreSQL database (see baton/queue.h for the contract and
// baton/postgres_store.h for what this store adds). Every call is one statement, a function
// of the schema where it writes.
//
// Thread safety: every method may be called from any thread; calls at the same time run on
// connections of their own (up to kConnections). WatchOffers() runs a thread with a
// connection of its own.
class PostgresQueue final : public Queue {
 public:
  PostgresQueue(const PostgresStoreOptions& options, Clock& clock, ConnectionSettings settings);
  // The first connection and the schema check, for OpenPostgresQueue.
  Result<void> Start();

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
  std::string Describe() const override { return settings_.describe; }

  // At most this many calls share the database at once (ConnectionPool).
  int ConcurrentClaims() const override { return kConcurrentClaims; }

  // Runs one statement on a connection of the pool (opened, and the schema checked, as
  // needed).
  Result<Rows> Exec(const Statement& statement, const std::vector<Param>& params);

 private:
  // A worker's claims out at once, and the connections for them and for its finisher and
  // extender beside them.
  static constexpr int kConcurrentClaims = 2;
  static constexpr int kConnections = kConcurrentClaims + 2;

  Result<OfferReply> OfferBatch(const OfferRequest& request, size_t begin, size_t end);
  Result<void> SetPaused(const QueueKey& queue, bool paused);
  // Once per handle, at its first offer and its first claim: the planner's statistics of the
  // queue tables where they have none (schema_v4.sql, gather_queue_statistics). Its failure
  // costs speed only, so it is not reported.
  void GatherStatisticsOnce(std::atomic<bool>& done);

  const std::string schema_;
  const bool create_schema_;
  Clock& clock_;
  const ConnectionSettings settings_;
  const QueueStatements statements_;
  ClaimWatch watch_;
  std::atomic<bool> offer_statistics_{false};
  std::atomic<bool> claim_statistics_{false};

  ConnectionPool pool_;
};

// A text[] or bigint[] parameter in PostgreSQL's array syntax; nullopt elements are NULL.
Param ArrayParam(const std::vector<std::optional<std::string>>& elements);
std::string Hex(std::string_view bytes);
// A bytea column in text form ("\x..." hex) as its bytes.
std::string FromByteaText(const std::string& text);
ClaimOutcome OutcomeFrom(const std::string& name);

}  // namespace baton::postgres_detail
