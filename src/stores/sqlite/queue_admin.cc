// SqliteQueue: the operations on a queue (SPEC 3.10). Reads are one read transaction; bulk
// writes (purge, requeue all) go in bounded batches, one transaction each.

#include <algorithm>
#include <string>
#include <vector>

#include "queue_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kQueueNames =
    "SELECT queue FROM baton_queues WHERE group_name = ?1 ORDER BY queue";
constexpr const char* kQueueGroups = "SELECT DISTINCT group_name FROM baton_queues ORDER BY 1";
constexpr const char* kPausedOf =
    "SELECT paused FROM baton_queues WHERE group_name = ?1 AND queue = ?2";
constexpr const char* kDepths =
    "SELECT state, ready_ns <= ?3, count(*) FROM baton_queue_items "
    "WHERE group_name = ?1 AND queue = ?2 GROUP BY 1, 2";
constexpr const char* kTenantsPending =
    "SELECT count(DISTINCT tenant) FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 "
    "AND state = 'pending'";
constexpr const char* kOldestPending =
    "SELECT min(offered_ns) FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 "
    "AND state = 'pending' AND ready_ns <= ?3";
constexpr const char* kTotals =
    "SELECT sum(done), sum(failed), sum(dead), sum(expired) FROM baton_queue_tenants "
    "WHERE group_name = ?1 AND queue = ?2";
constexpr const char* kTenants =
    "SELECT tenant, last_success_ms, last_failure_ms, last_error FROM baton_queue_tenants "
    "WHERE group_name = ?1 AND queue = ?2 ORDER BY tenant";
constexpr const char* kList =
    "SELECT id, tenant, state, priority, attempts, payload, offered_ms, ready_ns, "
    "claim_expiry_ns, claimed_by, last_error, exit_code FROM baton_queue_items "
    "WHERE group_name = ?1 AND queue = ?2 AND (?3 = '' OR state = ?3) ORDER BY id LIMIT ?4";
constexpr const char* kThroughput =
    "SELECT minute_ms, done, failed, dead FROM baton_queue_minutes "
    "WHERE group_name = ?1 AND queue = ?2 "
    "AND minute_ms > CAST(strftime('%s', 'now') AS INTEGER) / 60 * 60000 - ?3 * 60000 "
    "ORDER BY minute_ms";
constexpr const char* kRequeue =
    "UPDATE baton_queue_items SET state = 'pending', ready_ns = ?4, attempts = 0, releases = 0, "
    "is_unique = 0 WHERE id = ?3 AND group_name = ?1 AND queue = ?2 AND state = 'dead'";
constexpr const char* kRequeueBatch =
    "UPDATE baton_queue_items SET state = 'pending', ready_ns = ?3, attempts = 0, releases = 0, "
    "is_unique = 0 WHERE id IN (SELECT id FROM baton_queue_items WHERE group_name = ?1 "
    "AND queue = ?2 AND state = 'dead' LIMIT ?4)";
constexpr const char* kStateOf =
    "SELECT state FROM baton_queue_items WHERE id = ?3 AND group_name = ?1 AND queue = ?2";
constexpr const char* kMarkCancelled =
    "UPDATE baton_queue_items SET state = 'cancelled' WHERE id = ?1 AND state = 'running'";
constexpr const char* kPurgeBatch =
    "DELETE FROM baton_queue_items WHERE id IN (SELECT id FROM baton_queue_items "
    "WHERE group_name = ?1 AND queue = ?2 AND state IN ('pending', 'dead') LIMIT ?3)";
constexpr const char* kCancelBatch =
    "UPDATE baton_queue_items SET state = 'cancelled' WHERE id IN (SELECT id FROM "
    "baton_queue_items WHERE group_name = ?1 AND queue = ?2 AND state = 'running' LIMIT ?3)";
constexpr const char* kSetPaused =
    "INSERT INTO baton_queues (group_name, queue, paused) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (group_name, queue) DO UPDATE SET paused = excluded.paused";

ItemState StateFromName(const std::string& name) {
  if (name == "running") return ItemState::kRunning;
  if (name == "cancelled") return ItemState::kCancelled;
  if (name == "dead") return ItemState::kDead;
  return ItemState::kPending;
}

}  // namespace

Result<std::vector<std::string>> SqliteQueue::QueueNames(const std::string& group) {
  return Names(kQueueNames, group, "listing the group's queues");
}

Result<std::vector<std::string>> SqliteQueue::QueueGroups() {
  return Names(kQueueGroups, std::nullopt, "listing the groups with queues");
}

Result<std::vector<std::string>> SqliteQueue::Names(const char* sql,
                                                    const std::optional<std::string>& group,
                                                    const char* what) {
  std::lock_guard lock(mu_);
  Result<Statement> select = connection_->Prepare(sql, what);
  if (!select) return select.error();
  if (group) select->Bind(*group);
  std::vector<std::string> names;
  for (;;) {
    Result<bool> row = select->Step();
    if (!row) return row.error();
    if (!*row) break;
    names.push_back(select->Text(0));
  }
  return names;
}

Result<QueueStats> SqliteQueue::Stats(const QueueKey& queue) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kRead, "reading queue stats");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  QueueStats stats;
  const auto prepare = [&](const char* sql) -> Result<Statement> {
    Result<Statement> s = connection_->Prepare(sql, "reading queue stats");
    if (s) s->Bind(queue.group).Bind(queue.queue);
    return s;
  };
  {
    Result<Statement> paused = prepare(kPausedOf);
    if (!paused) return paused.error();
    Result<bool> row = paused->Step();
    if (!row) return row.error();
    stats.paused = *row && paused->Int(0) != 0;
  }
  {
    Result<Statement> depths = prepare(kDepths);
    if (!depths) return depths.error();
    depths->Bind(time.now_ns);
    for (;;) {
      Result<bool> row = depths->Step();
      if (!row) return row.error();
      if (!*row) break;
      const std::string state = depths->Text(0);
      const int64_t n = depths->Int(2);
      if (state == "pending") {
        (depths->Int(1) != 0 ? stats.pending : stats.waiting) += n;
      } else if (state == "dead") {
        stats.dead += n;
      } else {
        stats.running += n;
      }
    }
  }
  {
    Result<Statement> tenants = prepare(kTenantsPending);
    if (!tenants) return tenants.error();
    Result<bool> row = tenants->Step();
    if (!row) return row.error();
    if (*row) stats.tenants_pending = tenants->Int(0);
  }
  {
    Result<Statement> oldest = prepare(kOldestPending);
    if (!oldest) return oldest.error();
    Result<bool> row = oldest->Bind(time.now_ns).Step();
    if (!row) return row.error();
    if (*row && !oldest->IsNull(0)) {
      stats.oldest_pending_age = (time.now_ns - oldest->Int(0)) * Duration(1);
    }
  }
  {
    Result<Statement> totals = prepare(kTotals);
    if (!totals) return totals.error();
    Result<bool> row = totals->Step();
    if (!row) return row.error();
    if (*row) {
      stats.done_total = totals->Int(0);
      stats.failed_total = totals->Int(1);
      stats.dead_total = totals->Int(2);
      stats.expired_total = totals->Int(3);
    }
  }
  {
    Result<Statement> tenants = prepare(kTenants);
    if (!tenants) return tenants.error();
    for (;;) {
      Result<bool> row = tenants->Step();
      if (!row) return row.error();
      if (!*row) break;
      TenantStats t;
      t.tenant = tenants->Text(0);
      t.last_error = tenants->Text(3);
      if (!tenants->IsNull(1)) t.last_success = FromWallMillis(tenants->Int(1));
      if (!tenants->IsNull(2)) t.last_failure = FromWallMillis(tenants->Int(2));
      stats.tenants.push_back(std::move(t));
    }
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return stats;
}

Result<std::vector<ItemView>> SqliteQueue::List(const QueueKey& queue,
                                                std::optional<ItemState> state, int limit) {
  std::lock_guard lock(mu_);
  const StoreTime time = Now();
  Result<Statement> list = connection_->Prepare(kList, "listing queue items");
  if (!list) return list.error();
  list->Bind(queue.group)
      .Bind(queue.queue)
      .Bind(state ? ToString(*state) : "")
      .Bind(int64_t{std::max(0, limit)});
  std::vector<ItemView> items;
  for (;;) {
    Result<bool> row = list->Step();
    if (!row) return row.error();
    if (!*row) break;
    ItemView item;
    item.id = static_cast<uint64_t>(list->Int(0));
    item.tenant = list->Text(1);
    item.state = StateFromName(list->Text(2));
    item.priority = static_cast<int>(list->Int(3));
    item.attempts = static_cast<int>(list->Int(4));
    item.payload = list->Blob(5);
    item.offered = FromWallMillis(list->Int(6));
    item.ready_in = (list->Int(7) - time.now_ns) * Duration(1);
    if (!list->IsNull(8)) item.claim_left = (list->Int(8) - time.now_ns) * Duration(1);
    item.claimed_by = list->Text(9);
    item.last_error = list->Text(10);
    if (!list->IsNull(11)) item.exit_code = static_cast<int>(list->Int(11));
    items.push_back(std::move(item));
  }
  return items;
}

Result<std::vector<ItemView>> SqliteQueue::DeadLetters(const QueueKey& queue, int limit) {
  return List(queue, ItemState::kDead, limit);
}

Result<std::vector<MinuteCounts>> SqliteQueue::Throughput(const QueueKey& queue, int minutes) {
  std::lock_guard lock(mu_);
  Result<Statement> select = connection_->Prepare(kThroughput, "reading the queue's throughput");
  if (!select) return select.error();
  select->Bind(queue.group).Bind(queue.queue).Bind(int64_t{std::clamp(minutes, 0, kMinutesKept)});
  std::vector<MinuteCounts> counts;
  for (;;) {
    Result<bool> row = select->Step();
    if (!row) return row.error();
    if (!*row) return counts;
    counts.push_back(MinuteCounts{.minute = FromWallMillis(select->Int(0)),
                                  .done = select->Int(1),
                                  .failed = select->Int(2),
                                  .dead = select->Int(3)});
  }
}

Result<bool> SqliteQueue::Requeue(const QueueKey& queue, uint64_t id) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "requeueing the item");
  if (auto r = tx.Begin(); !r) return r.error();
  int changed = 0;
  {
    Result<Statement> requeue = connection_->Prepare(kRequeue, "requeueing the item");
    if (!requeue) return requeue.error();
    Result<int> n = requeue->Bind(queue.group)
                        .Bind(queue.queue)
                        .Bind(static_cast<int64_t>(id))
                        .Bind(Now().now_ns)
                        .Run();
    if (!n) return n.error();
    changed = *n;
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return changed > 0;
}

Result<int64_t> SqliteQueue::RequeueDead(const QueueKey& queue) {
  return InBatches("requeueing dead items", [&]() -> Result<int> {
    Result<Statement> requeue = connection_->Prepare(kRequeueBatch, "requeueing dead items");
    if (!requeue) return requeue.error();
    return requeue->Bind(queue.group)
        .Bind(queue.queue)
        .Bind(Now().now_ns)
        .Bind(int64_t{kMaxRowsPerTransaction})
        .Run();
  });
}

Result<CancelOutcome> SqliteQueue::Cancel(const QueueKey& queue, uint64_t id) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "cancelling the item");
  if (auto r = tx.Begin(); !r) return r.error();
  std::string state;
  {
    Result<Statement> select = connection_->Prepare(kStateOf, "cancelling the item");
    if (!select) return select.error();
    Result<bool> row =
        select->Bind(queue.group).Bind(queue.queue).Bind(static_cast<int64_t>(id)).Step();
    if (!row) return row.error();
    if (!*row) return CancelOutcome::kNotFound;
    state = select->Text(0);
  }
  CancelOutcome outcome = CancelOutcome::kCancelling;
  if (state == "running") {
    Result<Statement> mark = connection_->Prepare(kMarkCancelled, "cancelling the item");
    if (!mark) return mark.error();
    if (auto r = mark->Bind(static_cast<int64_t>(id)).Run(); !r) return r.error();
  } else if (state != "cancelled") {
    if (auto r = DeleteItem(id); !r) return r.error();
    outcome = CancelOutcome::kRemoved;
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return outcome;
}

Result<PurgeReply> SqliteQueue::Purge(const QueueKey& queue) {
  PurgeReply reply;
  Result<int64_t> removed = InBatches("purging the queue", [&]() -> Result<int> {
    Result<Statement> purge = connection_->Prepare(kPurgeBatch, "purging the queue");
    if (!purge) return purge.error();
    return purge->Bind(queue.group).Bind(queue.queue).Bind(int64_t{kMaxRowsPerTransaction}).Run();
  });
  if (!removed) return removed.error();
  reply.removed = *removed;
  Result<int64_t> cancelled = InBatches("purging the queue", [&]() -> Result<int> {
    Result<Statement> cancel = connection_->Prepare(kCancelBatch, "purging the queue");
    if (!cancel) return cancel.error();
    return cancel->Bind(queue.group).Bind(queue.queue).Bind(int64_t{kMaxRowsPerTransaction}).Run();
  });
  if (!cancelled) return cancelled.error();
  reply.cancelled = *cancelled;
  return reply;
}

Result<void> SqliteQueue::SetPaused(const QueueKey& queue, bool paused) {
  if (auto r = queue_detail::CheckQueueKey(queue); !r) return r;
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "pausing or resuming the queue");
  if (auto r = tx.Begin(); !r) return r;
  {
    Result<Statement> set = connection_->Prepare(kSetPaused, "pausing or resuming the queue");
    if (!set) return set.error();
    if (auto r = set->Bind(queue.group).Bind(queue.queue).Bind(int64_t{paused ? 1 : 0}).Run(); !r) {
      return r.error();
    }
  }
  return tx.Commit();
}

Result<void> SqliteQueue::Pause(const QueueKey& queue) { return SetPaused(queue, true); }
Result<void> SqliteQueue::Resume(const QueueKey& queue) { return SetPaused(queue, false); }

}  // namespace baton::sqlite_detail
