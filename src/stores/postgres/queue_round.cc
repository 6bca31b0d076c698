// PostgresQueue::StartRound: one call of <schema>.start_round (schema_v3.sql), which decides
// and records the round by the database's clock under the scheduler lease's fence.

#include "postgres_store_impl.h"
#include "queue_impl.h"

namespace baton::postgres_detail {

Result<RoundReply> PostgresQueue::StartRound(const RoundRequest& request) {
  if (auto r = queue_detail::CheckQueueKey(request.queue); !r) return r.error();
  if (request.every <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "a round's every must be positive");
  }
  Result<Rows> rows =
      Exec(statements_.start_round,
           {TextParam(request.queue.group), TextParam(request.queue.queue),
            TextParam(request.fence.lease), IntParam(static_cast<int64_t>(request.fence.token)),
            IntParam(Micros(request.every))});
  if (!rows) return rows.error();
  if (rows->size() != 1) {
    return Error(ErrorCode::kInternal, Describe() + ": start_round: no reply");
  }
  RoundReply reply;
  reply.fenced_out = rows->Bool(0, 0);
  reply.started = rows->Bool(0, 1);
  if (!rows->IsNull(0, 2)) reply.since_last = std::chrono::microseconds(rows->Int(0, 2));
  reply.wait = std::chrono::microseconds(rows->Int(0, 3));
  return reply;
}

}  // namespace baton::postgres_detail
