// SqliteQueue::Claim: one BEGIN IMMEDIATE transaction that acknowledges what the worker
// finished, drops expired items, takes back expired claims, then claims one ready item from
// each of up to max_items free tenants, served longest ago first. The write lock makes every
// read-then-write here exact, and the partial unique index on running items stands behind it.

#include <algorithm>
#include <string>
#include <vector>

#include "queue_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kPaused =
    "SELECT paused FROM baton_queues WHERE group_name = ?1 AND queue = ?2";
constexpr const char* kDropExpired =
    "DELETE FROM baton_queue_items WHERE id IN (SELECT id FROM baton_queue_items "
    "WHERE group_name = ?1 AND queue = ?2 AND expires_ns IS NOT NULL AND expires_ns <= ?3 "
    "AND state = 'pending' LIMIT ?4) RETURNING tenant";
constexpr const char* kExpiredClaims =
    "SELECT id, tenant, state, attempts FROM baton_queue_items WHERE group_name = ?1 "
    "AND queue = ?2 AND state IN ('running', 'cancelled') AND claim_expiry_ns <= ?3 LIMIT ?4";
constexpr const char* kBackToPending =
    "UPDATE baton_queue_items SET state = 'pending', ready_ns = ?2, claim_token = NULL, "
    "claim_expiry_ns = NULL, last_error = ?3, exit_code = NULL WHERE id = ?1";
constexpr const char* kToDead =
    "UPDATE baton_queue_items SET state = 'dead', claim_token = NULL, claim_expiry_ns = NULL, "
    "last_error = ?2, exit_code = NULL WHERE id = ?1";
// Free tenants with a ready item, served longest ago first (SPEC 3.5).
constexpr const char* kCandidates =
    "SELECT t.tenant FROM baton_queue_tenants t WHERE t.group_name = ?1 AND t.queue = ?2 "
    "AND EXISTS (SELECT 1 FROM baton_queue_items i WHERE i.group_name = ?1 AND i.queue = ?2 "
    "AND i.tenant = t.tenant AND i.state = 'pending' AND i.ready_ns <= ?3) "
    "AND NOT EXISTS (SELECT 1 FROM baton_queue_items r WHERE r.group_name = ?1 AND r.queue = ?2 "
    "AND r.tenant = t.tenant AND r.state IN ('running', 'cancelled')) "
    "ORDER BY t.last_served, t.seq LIMIT ?4";
constexpr const char* kBestOfTenant =
    "SELECT id, attempts, payload FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 "
    "AND tenant = ?3 AND state = 'pending' AND ready_ns <= ?4 "
    "ORDER BY priority DESC, ready_ns, id LIMIT 1";
constexpr const char* kNextToken =
    "UPDATE baton_queue_tokens SET last = last + 1 WHERE id = 1 RETURNING last";
constexpr const char* kTake =
    "UPDATE baton_queue_items SET state = 'running', claim_token = ?2, claimed_by = ?3, "
    "claim_expiry_ns = ?4, extensions = 0, attempts = attempts + 1, expires_ns = NULL "
    "WHERE id = ?1 AND state = 'pending' RETURNING attempts";
constexpr const char* kServed =
    "UPDATE baton_queue_tenants SET last_served = ?4 "
    "WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3";
// The earliest of: a waiting item becoming ready, a claim expiring, and now if a free tenant
// still has a ready item.
constexpr const char* kNextTry =
    "SELECT min(t) FROM ("
    "SELECT min(ready_ns) AS t FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 "
    "AND state = 'pending' AND ready_ns > ?3 "
    "UNION ALL SELECT min(claim_expiry_ns) FROM baton_queue_items WHERE group_name = ?1 "
    "AND queue = ?2 AND state IN ('running', 'cancelled') "
    "UNION ALL SELECT ?3 WHERE EXISTS (SELECT 1 FROM baton_queue_tenants t "
    "WHERE t.group_name = ?1 AND t.queue = ?2 "
    "AND EXISTS (SELECT 1 FROM baton_queue_items i WHERE i.group_name = ?1 AND i.queue = ?2 "
    "AND i.tenant = t.tenant AND i.state = 'pending' AND i.ready_ns <= ?3) "
    "AND NOT EXISTS (SELECT 1 FROM baton_queue_items r WHERE r.group_name = ?1 AND r.queue = ?2 "
    "AND r.tenant = t.tenant AND r.state IN ('running', 'cancelled'))))";

constexpr const char* kWorkerLost = "claim expired: the worker was lost";

}  // namespace

Result<ClaimReply> SqliteQueue::Claim(const ClaimRequest& request) {
  if (auto r = queue_detail::CheckClaim(request); !r) return r.error();
  const QueueKey& key = request.queue;
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "claiming items");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  ClaimReply reply;
  if (!request.acknowledge.empty()) {
    Result<std::vector<ClaimOutcome>> acked = AcknowledgeIn(key, request.acknowledge);
    if (!acked) return acked.error();
    reply.acknowledged = std::move(*acked);
  }
  {
    Result<Statement> paused = connection_->Prepare(kPaused, "claiming items");
    if (!paused) return paused.error();
    Result<bool> row = paused->Bind(key.group).Bind(key.queue).Step();
    if (!row) return row.error();
    reply.paused = *row && paused->Int(0) != 0;
  }
  if (reply.paused) {
    if (reply.acknowledged.empty()) return reply;  // Nothing changed: the rollback is harmless.
    if (auto r = tx.Commit(); !r) return r.error();
    return reply;
  }

  if (auto r = DropExpired(key, time); !r) return r.error();
  if (auto r = TakeBackExpiredClaims(request, time); !r) return r.error();

  std::vector<std::string> tenants;
  {
    Result<Statement> candidates = connection_->Prepare(kCandidates, "claiming items");
    if (!candidates) return candidates.error();
    candidates->Bind(key.group)
        .Bind(key.queue)
        .Bind(time.now_ns)
        .Bind(int64_t{std::min(request.max_items, kMaxClaimItems)});
    for (;;) {
      Result<bool> row = candidates->Step();
      if (!row) return row.error();
      if (!*row) break;
      tenants.push_back(candidates->Text(0));
    }
  }
  for (const std::string& tenant : tenants) {
    Result<std::optional<ClaimedItem>> claimed = ClaimFrom(request, tenant, time);
    if (!claimed) return claimed.error();
    if (*claimed) reply.items.push_back(std::move(**claimed));
  }
  Result<std::optional<Duration>> next = NextTry(key, time);
  if (!next) return next.error();
  reply.next_try = *next;
  if (auto r = tx.Commit(); !r) return r.error();
  return reply;
}

Result<void> SqliteQueue::DropExpired(const QueueKey& queue, const StoreTime& time) {
  std::vector<std::string> tenants;
  {
    Result<Statement> drop = connection_->Prepare(kDropExpired, "claiming: dropping expired items");
    if (!drop) return drop.error();
    drop->Bind(queue.group)
        .Bind(queue.queue)
        .Bind(time.now_ns)
        .Bind(int64_t{kMaxRowsPerTransaction});
    for (;;) {
      Result<bool> row = drop->Step();
      if (!row) return row.error();
      if (!*row) break;
      tenants.push_back(drop->Text(0));
    }
  }
  for (const std::string& tenant : tenants) {
    if (auto r = Count(queue, tenant, "expired", 1); !r) return r;
  }
  return Ok();
}

Result<void> SqliteQueue::TakeBackExpiredClaims(const ClaimRequest& request,
                                                const StoreTime& time) {
  struct Expired {
    int64_t id;
    std::string tenant;
    std::string state;
    int64_t attempts;
  };
  std::vector<Expired> expired;
  {
    Result<Statement> select = connection_->Prepare(kExpiredClaims, "claiming: expired claims");
    if (!select) return select.error();
    select->Bind(request.queue.group)
        .Bind(request.queue.queue)
        .Bind(time.now_ns)
        .Bind(int64_t{kMaxRowsPerTransaction});
    for (;;) {
      Result<bool> row = select->Step();
      if (!row) return row.error();
      if (!*row) break;
      expired.push_back({select->Int(0), select->Text(1), select->Text(2), select->Int(3)});
    }
  }
  for (const Expired& item : expired) {
    if (item.state == "cancelled") {
      // Its work is over one way or another: the cancellation completes.
      if (auto r = DeleteItem(static_cast<uint64_t>(item.id)); !r) return r;
      continue;
    }
    const bool dead = item.attempts >= request.max_attempts;
    Result<Statement> update = connection_->Prepare(dead ? kToDead : kBackToPending,
                                                    "claiming: taking back an expired claim");
    if (!update) return update.error();
    update->Bind(item.id);
    if (!dead) update->Bind(time.now_ns);
    if (auto r = update->Bind(kWorkerLost).Run(); !r) return r.error();
    if (auto r = Count(request.queue, item.tenant, "failed", 1); !r) return r;
    if (dead) {
      if (auto r = Count(request.queue, item.tenant, "dead", 1); !r) return r;
    }
    if (auto r = NoteOutcome(request.queue, item.tenant, false, kWorkerLost); !r) return r;
  }
  return Ok();
}

Result<std::optional<ClaimedItem>> SqliteQueue::ClaimFrom(const ClaimRequest& request,
                                                          const std::string& tenant,
                                                          const StoreTime& time) {
  const QueueKey& key = request.queue;
  int64_t id = 0;
  int64_t attempts = 0;
  ClaimedItem item;
  {
    Result<Statement> best = connection_->Prepare(kBestOfTenant, "claiming items");
    if (!best) return best.error();
    Result<bool> row = best->Bind(key.group).Bind(key.queue).Bind(tenant).Bind(time.now_ns).Step();
    if (!row) return row.error();
    if (!*row) return std::optional<ClaimedItem>();
    id = best->Int(0);
    attempts = best->Int(1);
    item.payload = best->Blob(2);
  }
  if (attempts >= request.max_attempts) {
    // Retried (or released) until no attempt is left: dead, not claimed.
    const std::string why = "attempts exhausted: " + std::to_string(attempts) + " of " +
                            std::to_string(request.max_attempts) + " made";
    Result<Statement> dead = connection_->Prepare(kToDead, "claiming: dead-lettering");
    if (!dead) return dead.error();
    if (auto r = dead->Bind(id).Bind(why).Run(); !r) return r.error();
    if (auto r = Count(key, tenant, "dead", 1); !r) return r.error();
    return std::optional<ClaimedItem>();
  }
  Result<uint64_t> token = NextToken();
  if (!token) return token.error();
  {
    Result<Statement> take = connection_->Prepare(kTake, "claiming items");
    if (!take) return take.error();
    Result<bool> row = take->Bind(id)
                           .Bind(static_cast<int64_t>(*token))
                           .Bind(request.worker)
                           .Bind(AddNanos(time.now_ns, request.visibility))
                           .Step();
    if (!row) return row.error();
    if (!*row) return std::optional<ClaimedItem>();
    item.attempt = static_cast<int>(take->Int(0));
  }
  {
    Result<Statement> served = connection_->Prepare(kServed, "claiming items");
    if (!served) return served.error();
    if (auto r = served->Bind(key.group)
                     .Bind(key.queue)
                     .Bind(tenant)
                     .Bind(static_cast<int64_t>(*token))
                     .Run();
        !r) {
      return r.error();
    }
  }
  item.id = static_cast<uint64_t>(id);
  item.tenant = tenant;
  item.claim_token = *token;
  return std::optional<ClaimedItem>(std::move(item));
}

Result<uint64_t> SqliteQueue::NextToken() {
  Result<Statement> next = connection_->Prepare(kNextToken, "claiming: a new claim token");
  if (!next) return next.error();
  Result<bool> row = next->Step();
  if (!row) return row.error();
  if (!*row) return Error(ErrorCode::kInternal, describe_ + ": the claim token row is missing");
  const uint64_t token = static_cast<uint64_t>(next->Int(0));
  // Finish the statement, so the row's new value is in place before it is used.
  if (auto r = next->Run(); !r) return r.error();
  return token;
}

Result<std::optional<Duration>> SqliteQueue::NextTry(const QueueKey& queue, const StoreTime& time) {
  Result<Statement> next = connection_->Prepare(kNextTry, "claiming: the next try");
  if (!next) return next.error();
  Result<bool> row = next->Bind(queue.group).Bind(queue.queue).Bind(time.now_ns).Step();
  if (!row) return row.error();
  if (!*row || next->IsNull(0)) return std::optional<Duration>();
  return std::optional<Duration>(std::max<int64_t>(0, next->Int(0) - time.now_ns) * Duration(1));
}

}  // namespace baton::sqlite_detail
