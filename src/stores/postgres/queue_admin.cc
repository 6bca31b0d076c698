// PostgresQueue: the operations on a queue (SPEC 3.10), each one parameterised statement.

#include <chrono>
#include <string>
#include <vector>

#include <algorithm>

#include "queue_impl.h"

namespace baton::postgres_detail {
namespace {

using std::chrono::microseconds;

std::chrono::system_clock::time_point FromMillis(int64_t ms) {
  using namespace std::chrono;
  return system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(ms)));
}

ItemState StateFromName(const std::string& name) {
  if (name == "running") return ItemState::kRunning;
  if (name == "cancelled") return ItemState::kCancelled;
  if (name == "dead") return ItemState::kDead;
  return ItemState::kPending;
}

}  // namespace

Result<std::vector<std::string>> PostgresQueue::QueueGroups() {
  Result<Rows> rows = Exec(statements_.groups, {});
  if (!rows) return rows.error();
  std::vector<std::string> groups;
  for (int i = 0; i < rows->size(); ++i) groups.push_back(rows->Text(i, 0));
  return groups;
}

Result<std::vector<std::string>> PostgresQueue::QueueNames(const std::string& group) {
  Result<Rows> rows = Exec(statements_.names, {TextParam(group)});
  if (!rows) return rows.error();
  std::vector<std::string> names;
  for (int i = 0; i < rows->size(); ++i) names.push_back(rows->Text(i, 0));
  return names;
}

Result<QueueStats> PostgresQueue::Stats(const QueueKey& queue) {
  const std::vector<Param> key = {TextParam(queue.group), TextParam(queue.queue)};
  QueueStats stats;
  Result<Rows> paused = Exec(statements_.paused, key);
  if (!paused) return paused.error();
  stats.paused = paused->size() == 1 && paused->Bool(0, 0);
  Result<Rows> depths = Exec(statements_.depths, key);
  if (!depths) return depths.error();
  for (int i = 0; i < depths->size(); ++i) {
    const std::string state = depths->Text(i, 0);
    const int64_t n = depths->Int(i, 2);
    if (state == "pending") {
      (depths->Bool(i, 1) ? stats.pending : stats.waiting) += n;
    } else if (state == "dead") {
      stats.dead += n;
    } else {
      stats.running += n;
    }
  }
  Result<Rows> tenants_pending = Exec(statements_.tenants_pending, key);
  if (!tenants_pending) return tenants_pending.error();
  stats.tenants_pending = tenants_pending->Int(0, 0);
  Result<Rows> oldest = Exec(statements_.oldest, key);
  if (!oldest) return oldest.error();
  if (oldest->size() == 1 && !oldest->IsNull(0, 0)) {
    stats.oldest_pending_age = microseconds(oldest->Int(0, 0));
  }
  Result<Rows> totals = Exec(statements_.totals, key);
  if (!totals) return totals.error();
  if (totals->size() == 1) {
    stats.done_total = totals->Int(0, 0);
    stats.failed_total = totals->Int(0, 1);
    stats.dead_total = totals->Int(0, 2);
    stats.expired_total = totals->Int(0, 3);
  }
  Result<Rows> tenants = Exec(statements_.tenants, key);
  if (!tenants) return tenants.error();
  for (int i = 0; i < tenants->size(); ++i) {
    TenantStats t;
    t.tenant = tenants->Text(i, 0);
    if (!tenants->IsNull(i, 1)) t.last_success = FromMillis(tenants->Int(i, 1));
    if (!tenants->IsNull(i, 2)) t.last_failure = FromMillis(tenants->Int(i, 2));
    t.last_error = tenants->Text(i, 3);
    stats.tenants.push_back(std::move(t));
  }
  return stats;
}

Result<std::vector<ItemView>> PostgresQueue::List(const QueueKey& queue,
                                                  std::optional<ItemState> state, int limit) {
  Result<Rows> rows = Exec(
      statements_.list, {TextParam(queue.group), TextParam(queue.queue),
                         TextParam(state ? ToString(*state) : ""), IntParam(std::max(0, limit))});
  if (!rows) return rows.error();
  std::vector<ItemView> items;
  for (int i = 0; i < rows->size(); ++i) {
    ItemView item;
    item.id = static_cast<uint64_t>(rows->Int(i, 0));
    item.tenant = rows->Text(i, 1);
    item.state = StateFromName(rows->Text(i, 2));
    item.priority = static_cast<int>(rows->Int(i, 3));
    item.attempts = static_cast<int>(rows->Int(i, 4));
    item.payload = FromByteaText(rows->Text(i, 5));
    item.offered = FromMillis(rows->Int(i, 6));
    item.ready_in = microseconds(rows->Int(i, 7));
    item.claim_left = microseconds(rows->Int(i, 8));
    item.claimed_by = rows->Text(i, 9);
    item.last_error = rows->Text(i, 10);
    if (!rows->IsNull(i, 11)) item.exit_code = static_cast<int>(rows->Int(i, 11));
    items.push_back(std::move(item));
  }
  return items;
}

Result<std::vector<ItemView>> PostgresQueue::DeadLetters(const QueueKey& queue, int limit) {
  return List(queue, ItemState::kDead, limit);
}

Result<std::vector<MinuteCounts>> PostgresQueue::Throughput(const QueueKey& queue, int minutes) {
  Result<Rows> rows =
      Exec(statements_.throughput, {TextParam(queue.group), TextParam(queue.queue),
                                    IntParam(std::clamp(minutes, 0, kMinutesKept))});
  if (!rows) return rows.error();
  std::vector<MinuteCounts> counts;
  for (int i = 0; i < rows->size(); ++i) {
    counts.push_back(
        MinuteCounts{.minute = std::chrono::system_clock::time_point(
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::milliseconds(rows->Int(i, 0)))),
                     .done = rows->Int(i, 1),
                     .failed = rows->Int(i, 2),
                     .dead = rows->Int(i, 3)});
  }
  return counts;
}

Result<bool> PostgresQueue::Requeue(const QueueKey& queue, uint64_t id) {
  Result<Rows> rows = Exec(statements_.requeue, {TextParam(queue.group), TextParam(queue.queue),
                                                 IntParam(static_cast<int64_t>(id))});
  if (!rows) return rows.error();
  return rows->affected() > 0;
}

Result<int64_t> PostgresQueue::RequeueDead(const QueueKey& queue) {
  Result<Rows> rows =
      Exec(statements_.requeue_dead, {TextParam(queue.group), TextParam(queue.queue)});
  if (!rows) return rows.error();
  return rows->affected();
}

Result<CancelOutcome> PostgresQueue::Cancel(const QueueKey& queue, uint64_t id) {
  Result<Rows> rows = Exec(statements_.cancel, {TextParam(queue.group), TextParam(queue.queue),
                                                IntParam(static_cast<int64_t>(id))});
  if (!rows) return rows.error();
  if (rows->size() != 1 || rows->IsNull(0, 0)) return CancelOutcome::kNotFound;
  const std::string state = rows->Text(0, 0);
  if (state == "pending" || state == "dead") return CancelOutcome::kRemoved;
  return CancelOutcome::kCancelling;
}

Result<PurgeReply> PostgresQueue::Purge(const QueueKey& queue) {
  Result<Rows> rows = Exec(statements_.purge, {TextParam(queue.group), TextParam(queue.queue)});
  if (!rows) return rows.error();
  if (rows->size() != 1) return Error(ErrorCode::kInternal, Describe() + ": purge: no reply");
  return PurgeReply{.removed = rows->Int(0, 0), .cancelled = rows->Int(0, 1)};
}

Result<void> PostgresQueue::SetPaused(const QueueKey& queue, bool paused) {
  if (auto r = queue_detail::CheckQueueKey(queue); !r) return r;
  Result<Rows> rows = Exec(statements_.set_paused, {TextParam(queue.group), TextParam(queue.queue),
                                                    TextParam(paused ? "true" : "false")});
  if (!rows) return rows.error();
  return Ok();
}

Result<void> PostgresQueue::Pause(const QueueKey& queue) { return SetPaused(queue, true); }
Result<void> PostgresQueue::Resume(const QueueKey& queue) { return SetPaused(queue, false); }

}  // namespace baton::postgres_detail
