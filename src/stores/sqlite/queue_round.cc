// SqliteQueue::StartRound: the scheduler's round, decided and recorded in one fenced
// transaction, so a new holder of the scheduler lease never runs a round within --every of
// the last one (SPEC 3.1).

#include "queue_impl.h"

namespace baton::sqlite_detail {
namespace {

constexpr const char* kReadRound =
    "SELECT last_ns, boot_id FROM baton_queue_rounds WHERE group_name = ?1 AND queue = ?2";
constexpr const char* kWriteRound =
    "INSERT INTO baton_queue_rounds (group_name, queue, last_ns, boot_id, last_ms, token, rounds) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (group_name, queue) DO UPDATE SET "
    "last_ns = excluded.last_ns, boot_id = excluded.boot_id, last_ms = excluded.last_ms, "
    "token = excluded.token, rounds = rounds + excluded.rounds";

}  // namespace

Result<RoundReply> SqliteQueue::StartRound(const RoundRequest& request) {
  if (auto r = queue_detail::CheckQueueKey(request.queue); !r) return r.error();
  if (request.every <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "a round's every must be positive");
  }
  const QueueKey& key = request.queue;
  std::lock_guard lock(mu_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "starting a scheduler round");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  RoundReply reply;
  Result<bool> held = FenceHolds(key.group, request.fence, time);
  if (!held) return held.error();
  if (!*held) {
    reply.fenced_out = true;
    return reply;  // The rollback undoes nothing.
  }
  {
    Result<Statement> read = connection_->Prepare(kReadRound, "reading the last round");
    if (!read) return read.error();
    Result<bool> row = read->Bind(key.group).Bind(key.queue).Step();
    if (!row) return row.error();
    // A round of another boot is as good as none: a reboot ended every process of the host.
    if (*row && read->Text(1) == time.boot_id)
      reply.since_last = Duration(time.now_ns - read->Int(0));
  }
  if (reply.since_last && *reply.since_last >= Duration::zero() &&
      *reply.since_last < request.every) {
    reply.wait = request.every - *reply.since_last;
    return reply;  // Not due: nothing to record.
  }
  // Due, or a last round in the future (a clock step): now becomes the last round; a step
  // waits one `every` from now instead of starting at once.
  reply.started = !reply.since_last || *reply.since_last >= Duration::zero();
  if (!reply.started) reply.wait = request.every;
  Result<Statement> write = connection_->Prepare(kWriteRound, "recording the round");
  if (!write) return write.error();
  if (auto r = write->Bind(key.group)
                   .Bind(key.queue)
                   .Bind(time.now_ns)
                   .Bind(time.boot_id)
                   .Bind(WallMillis())
                   .Bind(static_cast<int64_t>(request.fence.token))
                   .Bind(int64_t{reply.started ? 1 : 0})
                   .Run();
      !r) {
    return r.error();
  }
  if (auto r = tx.Commit(); !r) return r.error();
  return reply;
}

}  // namespace baton::sqlite_detail
