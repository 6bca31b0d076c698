// SqliteQueue: what a worker does with its claim — extend, acknowledge, fail, release. Each
// call changes the item only while the token is its live claim, so a worker whose claim was
// taken again cannot touch the newer one (SPEC 3.2).

#include <string>
#include <vector>

#include "queue_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kLiveState =
    "SELECT state FROM baton_queue_items WHERE id = ?1 AND group_name = ?2 AND queue = ?3 "
    "AND claim_token = ?4 AND state IN ('running', 'cancelled')";
constexpr const char* kExtend =
    "UPDATE baton_queue_items SET claim_expiry_ns = ?2, extensions = extensions + 1 "
    "WHERE id = ?1 AND state = 'running'";
constexpr const char* kRetry =
    "UPDATE baton_queue_items SET state = 'pending', ready_ns = ?2, claim_token = NULL, "
    "claim_expiry_ns = NULL, last_error = ?3, exit_code = ?4 WHERE id = ?1";
constexpr const char* kDead =
    "UPDATE baton_queue_items SET state = 'dead', claim_token = NULL, claim_expiry_ns = NULL, "
    "last_error = ?2, exit_code = ?3 WHERE id = ?1";
// The attempt is given back for the first kMaxReleases releases (?3).
constexpr const char* kRelease =
    "UPDATE baton_queue_items SET state = 'pending', ready_ns = ?2, claim_token = NULL, "
    "claim_expiry_ns = NULL, attempts = CASE WHEN releases < ?3 THEN max(attempts - 1, 0) "
    "ELSE attempts END, releases = releases + 1 WHERE id = ?1";

}  // namespace

Result<std::optional<std::string>> SqliteQueue::LiveState(const QueueKey& queue,
                                                          const ClaimRef& claim) {
  Result<Statement> select = connection_->Prepare(kLiveState, "reading the claim");
  if (!select) return select.error();
  Result<bool> row = select->Bind(static_cast<int64_t>(claim.item))
                         .Bind(queue.group)
                         .Bind(queue.queue)
                         .Bind(static_cast<int64_t>(claim.claim_token))
                         .Step();
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(select->Text(0));
}

Result<ClaimOutcome> SqliteQueue::Extend(const QueueKey& queue, const ClaimRef& claim,
                                         Duration visibility) {
  if (visibility <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "the claim's visibility must be positive");
  }
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "extending the claim");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  Result<std::optional<std::string>> state = LiveState(queue, claim);
  if (!state) return state.error();
  if (!*state) return ClaimOutcome::kStale;
  if (**state == "cancelled") return ClaimOutcome::kCancelled;
  {
    Result<Statement> extend = connection_->Prepare(kExtend, "extending the claim");
    if (!extend) return extend.error();
    if (auto r = extend->Bind(static_cast<int64_t>(claim.item))
                     .Bind(AddNanos(time.now_ns, visibility))
                     .Run();
        !r) {
      return r.error();
    }
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return ClaimOutcome::kOk;
}

Result<std::vector<ClaimOutcome>> SqliteQueue::Acknowledge(const QueueKey& queue,
                                                           const std::vector<ClaimRef>& claims) {
  if (claims.empty()) return std::vector<ClaimOutcome>();
  if (auto r = queue_detail::CheckAcknowledge(claims); !r) return r.error();
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "acknowledging items");
  if (auto r = tx.Begin(); !r) return r.error();
  Result<std::vector<ClaimOutcome>> outcomes = AcknowledgeIn(queue, claims);
  if (!outcomes) return outcomes.error();
  if (auto r = tx.Commit(); !r) return r.error();
  return outcomes;
}

Result<std::vector<ClaimOutcome>> SqliteQueue::AcknowledgeIn(const QueueKey& queue,
                                                             const std::vector<ClaimRef>& claims) {
  std::vector<ClaimOutcome> outcomes;
  for (const ClaimRef& claim : claims) {
    Result<std::optional<std::string>> state = LiveState(queue, claim);
    if (!state) return state.error();
    if (!*state) {
      outcomes.push_back(ClaimOutcome::kStale);
      continue;
    }
    Result<std::string> tenant = TenantOf(claim.item);
    if (!tenant) return tenant.error();
    if (auto r = DeleteItem(claim.item); !r) return r.error();
    if (**state == "cancelled") {
      outcomes.push_back(ClaimOutcome::kCancelled);
      continue;
    }
    if (auto r = Count(queue, *tenant, "done", 1); !r) return r.error();
    if (auto r = NoteOutcome(queue, *tenant, true, ""); !r) return r.error();
    outcomes.push_back(ClaimOutcome::kOk);
  }
  return outcomes;
}

Result<FailReply> SqliteQueue::Fail(const QueueKey& queue, const ClaimRef& claim,
                                    const FailRequest& failure) {
  if (failure.retry_after < Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "retry_after must not be negative");
  }
  const std::string error = queue_detail::ErrorTail(failure.error);
  std::optional<int64_t> exit_code;
  if (failure.exit_code) exit_code = *failure.exit_code;
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "failing the attempt");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  Result<std::optional<std::string>> state = LiveState(queue, claim);
  if (!state) return state.error();
  if (!*state) return FailReply{.outcome = ClaimOutcome::kStale};
  Result<std::string> tenant = TenantOf(claim.item);
  if (!tenant) return tenant.error();
  FailReply reply;
  if (**state == "cancelled") {
    if (auto r = DeleteItem(claim.item); !r) return r.error();
    reply.outcome = ClaimOutcome::kCancelled;
  } else {
    Result<Statement> update =
        connection_->Prepare(failure.dead_now ? kDead : kRetry, "failing the attempt");
    if (!update) return update.error();
    update->Bind(static_cast<int64_t>(claim.item));
    if (!failure.dead_now) update->Bind(AddNanos(time.now_ns, failure.retry_after));
    if (auto r = update->Bind(error).Bind(exit_code).Run(); !r) return r.error();
    if (auto r = Count(queue, *tenant, "failed", 1); !r) return r.error();
    if (failure.dead_now) {
      if (auto r = Count(queue, *tenant, "dead", 1); !r) return r.error();
    }
    reply.dead = failure.dead_now;
  }
  if (auto r = NoteOutcome(queue, *tenant, false, error); !r) return r.error();
  if (auto r = tx.Commit(); !r) return r.error();
  return reply;
}

Result<ClaimOutcome> SqliteQueue::Release(const QueueKey& queue, const ClaimRef& claim) {
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "releasing the claim");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  Result<std::optional<std::string>> state = LiveState(queue, claim);
  if (!state) return state.error();
  if (!*state) return ClaimOutcome::kStale;
  ClaimOutcome outcome = ClaimOutcome::kOk;
  if (**state == "cancelled") {
    if (auto r = DeleteItem(claim.item); !r) return r.error();
    outcome = ClaimOutcome::kCancelled;
  } else {
    Result<Statement> release = connection_->Prepare(kRelease, "releasing the claim");
    if (!release) return release.error();
    if (auto r = release->Bind(static_cast<int64_t>(claim.item))
                     .Bind(time.now_ns)
                     .Bind(int64_t{kMaxReleases})
                     .Run();
        !r) {
      return r.error();
    }
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return outcome;
}

}  // namespace baton::sqlite_detail
