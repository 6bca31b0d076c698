// PostgresQueue: opening, offers, claims and what a worker does with its claims. Each call is
// one statement calling a function of the schema (schema_v2.sql).

#include <algorithm>
#include <chrono>
#include <utility>

#include "conninfo.h"
#include "offer_watcher.h"
#include "postgres_store_impl.h"
#include "queue_impl.h"
#include "schema.h"

namespace baton {
namespace postgres_detail {
namespace {

// The claim function lists at most this many running claims (the earliest expiries first).
constexpr int kRunningListed = 1000;
// A claim that gets every item it asked for lists the running claims only this often: the
// watch of a claim (ClaimWatch) may start this much later, which delays taking back a lost
// worker's item by at most as much.
constexpr Duration kListRunningEvery = std::chrono::milliseconds(20);

Statement Write(std::string name, std::string sql, std::string what) {
  return {.name = std::move(name),
          .sql = std::move(sql),
          .effect = Effect::kWrite,
          .what = std::move(what)};
}

}  // namespace

Param ArrayParam(const std::vector<std::optional<std::string>>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    if (!elements[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *elements[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string FromByteaText(const std::string& text) {
  const auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string out;
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return out;
  for (size_t i = 2; i + 1 < text.size(); i += 2) {
    out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
  }
  return out;
}

ClaimOutcome OutcomeFrom(const std::string& name) {
  if (name == "ok") return ClaimOutcome::kOk;
  if (name == "cancelled") return ClaimOutcome::kCancelled;
  return ClaimOutcome::kStale;
}

QueueStatements::QueueStatements(const std::string& schema) {
  const std::string s = QuoteIdentifier(schema);
  offer = Write("baton_q_offer",
                "SELECT * FROM " + s +
                    ".offer($1::text, $2::text, $3::boolean, $4::text, $5::bigint, $6::text[], "
                    "$7::text[], $8::integer[], $9::bigint[], $10::bigint[])",
                "offering items");
  start_round = Write(
      "baton_q_start_round",
      "SELECT * FROM " + s + ".start_round($1::text, $2::text, $3::text, $4::bigint, $5::bigint)",
      "starting a scheduler round");
  claim = Write("baton_q_claim",
                "SELECT * FROM " + s +
                    ".claim($1::text, $2::text, $3::text, $4::integer, $5::bigint, $6::integer, "
                    "$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], "
                    "$12::bigint[], $13::boolean)",
                "claiming items");
  extend = Write("baton_q_extend",
                 "SELECT " + s + ".extend($1::text, $2::text, $3::bigint, $4::bigint, $5::bigint)",
                 "extending the claim");
  ack = Write("baton_q_ack",
              "SELECT * FROM " + s + ".ack($1::text, $2::text, $3::bigint[], $4::bigint[])",
              "acknowledging items");
  fail = Write("baton_q_fail",
               "SELECT * FROM " + s +
                   ".fail($1::text, $2::text, $3::bigint, $4::bigint, $5::text, $6::integer, "
                   "$7::bigint, $8::boolean)",
               "failing the attempt");
  release = Write(
      "baton_q_release",
      "SELECT " + s + ".release_claim($1::text, $2::text, $3::bigint, $4::bigint, $5::integer)",
      "releasing the claim");
  const std::string items = s + ".queue_items WHERE group_name = $1::text AND queue = $2::text";
  const auto read = [](std::string name, std::string sql, std::string what) {
    return Statement{.name = std::move(name),
                     .sql = std::move(sql),
                     .effect = Effect::kRead,
                     .what = std::move(what)};
  };
  names = read("baton_q_names",
               "SELECT queue FROM " + s + ".queues WHERE group_name = $1::text ORDER BY queue",
               "listing the group's queues");
  groups = read("baton_q_groups", "SELECT DISTINCT group_name FROM " + s + ".queues ORDER BY 1",
                "listing the groups with queues");
  paused =
      read("baton_q_paused",
           "SELECT paused FROM " + s + ".queues WHERE group_name = $1::text AND queue = $2::text",
           "reading queue stats");
  depths =
      read("baton_q_depths",
           "SELECT state, ready_at <= clock_timestamp(), count(*) FROM " + items + " GROUP BY 1, 2",
           "reading queue stats");
  tenants_pending = read("baton_q_tenants_pending",
                         "SELECT count(DISTINCT tenant) FROM " + items + " AND state = 'pending'",
                         "reading queue stats");
  oldest = read("baton_q_oldest",
                "SELECT floor(extract(epoch FROM clock_timestamp() - min(offered_at)) * "
                "1000000)::bigint FROM " +
                    items + " AND state = 'pending' AND ready_at <= clock_timestamp()",
                "reading queue stats");
  totals = read("baton_q_totals",
                "SELECT sum(done), sum(failed), sum(dead), sum(expired) FROM " + s +
                    ".queue_tenants WHERE group_name = $1::text AND queue = $2::text",
                "reading queue stats");
  tenants = read("baton_q_tenants",
                 "SELECT tenant, floor(extract(epoch FROM last_success_at) * 1000)::bigint, "
                 "floor(extract(epoch FROM last_failure_at) * 1000)::bigint, last_error FROM " +
                     s +
                     ".queue_tenants WHERE group_name = $1::text AND queue = $2::text "
                     "ORDER BY tenant",
                 "reading queue stats");
  throughput = read("baton_q_throughput",
                    "SELECT floor(extract(epoch FROM minute) * 1000)::bigint, sum(done)::bigint, "
                    "sum(failed)::bigint, sum(dead)::bigint FROM " +
                        s +
                        ".queue_minutes WHERE group_name = $1::text AND queue = $2::text "
                        "AND minute > date_trunc('minute', clock_timestamp()) - "
                        "$3::bigint * interval '1 minute' GROUP BY minute ORDER BY minute",
                    "reading the queue's throughput");
  list = read("baton_q_list",
              "SELECT id, tenant, state, priority, attempts, payload, "
              "floor(extract(epoch FROM offered_at) * 1000)::bigint, "
              "floor(extract(epoch FROM ready_at - clock_timestamp()) * 1000000)::bigint, "
              "floor(extract(epoch FROM claim_expires_at - clock_timestamp()) * 1000000)::bigint, "
              "claimed_by, last_error, exit_code FROM " +
                  items + " AND ($3::text = '' OR state = $3::text) ORDER BY id LIMIT $4::bigint",
              "listing queue items");
  requeue = Write("baton_q_requeue",
                  "UPDATE " + s +
                      ".queue_items SET state = 'pending', ready_at = clock_timestamp(), "
                      "attempts = 0, releases = 0, is_unique = false WHERE group_name = $1::text "
                      "AND queue = $2::text AND id = $3::bigint AND state = 'dead'",
                  "requeueing the item");
  requeue_dead = Write("baton_q_requeue_dead",
                       "UPDATE " + s +
                           ".queue_items SET state = 'pending', ready_at = clock_timestamp(), "
                           "attempts = 0, releases = 0, is_unique = false WHERE group_name = "
                           "$1::text AND queue = $2::text AND state = 'dead'",
                       "requeueing dead items");
  // Pending or dead: removed; running: marked, keeping the slot until the work stops.
  cancel = Write("baton_q_cancel",
                 "WITH item AS (SELECT id, state FROM " + items +
                     " AND id = $3::bigint FOR UPDATE), "
                     "removed AS (DELETE FROM " +
                     s +
                     ".queue_items WHERE id IN (SELECT id FROM item WHERE state IN ('pending', "
                     "'dead')) RETURNING id), "
                     "marked AS (UPDATE " +
                     s +
                     ".queue_items SET state = 'cancelled' WHERE id IN (SELECT id FROM item "
                     "WHERE state = 'running') RETURNING id) "
                     "SELECT (SELECT state FROM item), (SELECT count(*) FROM removed), "
                     "(SELECT count(*) FROM marked)",
                 "cancelling the item");
  purge = Write("baton_q_purge",
                "WITH removed AS (DELETE FROM " + items +
                    " AND state IN ('pending', 'dead') RETURNING 1), "
                    "marked AS (UPDATE " +
                    s +
                    ".queue_items SET state = 'cancelled' WHERE group_name = $1::text "
                    "AND queue = $2::text AND state = 'running' RETURNING 1) "
                    "SELECT (SELECT count(*) FROM removed), (SELECT count(*) FROM marked)",
                "purging the queue");
  set_paused = Write("baton_q_set_paused",
                     "INSERT INTO " + s +
                         ".queues (group_name, queue, paused) VALUES ($1::text, $2::text, "
                         "$3::boolean) ON CONFLICT (group_name, queue) DO UPDATE SET paused = "
                         "excluded.paused",
                     "pausing or resuming the queue");
  channel = read("baton_q_channel", "SELECT " + s + ".queue_channel($1::text, $2::text)",
                 "finding the queue's channel");
  gather_statistics =
      Write("baton_q_gather_statistics", "SELECT " + s + ".gather_queue_statistics()",
            "gathering the queue tables' statistics");
}

PostgresQueue::PostgresQueue(const PostgresStoreOptions& options, Clock& clock,
                             ConnectionSettings settings)
    : schema_(options.schema),
      create_schema_(options.create_schema),
      clock_(clock),
      settings_(std::move(settings)),
      statements_(options.schema),
      pool_(settings_, clock, kConnections, [this](Connection& connection) {
        return MigrateOrCheckSchema(connection, schema_, create_schema_);
      }) {}

Result<void> PostgresQueue::Start() {
  Result<void> ready = pool_.With([](Connection&) { return Ok(); });
  if (!ready && !ready.error().retryable()) return ready.error();
  return Ok();
}

Result<Rows> PostgresQueue::Exec(const Statement& statement, const std::vector<Param>& params) {
  return pool_.With([&](Connection& connection) { return connection.Exec(statement, params); });
}

Result<OfferReply> PostgresQueue::Offer(const OfferRequest& request) {
  if (auto r = queue_detail::CheckOffer(request); !r) return r.error();
  OfferReply reply;
  reply.ids.resize(request.items.size());
  for (size_t begin = 0; begin == 0 || begin < request.items.size();
       begin += kMaxRowsPerTransaction) {
    const size_t end = std::min(request.items.size(), begin + kMaxRowsPerTransaction);
    Result<OfferReply> batch = OfferBatch(request, begin, end);
    if (!batch) return batch.error();
    if (batch->fenced_out) {
      reply.fenced_out = true;
      break;
    }
    std::copy(batch->ids.begin(), batch->ids.end(), reply.ids.begin() + begin);
    GatherStatisticsOnce(offer_statistics_);  // After the first batch: there are rows now.
    if (end >= request.items.size()) break;
  }
  return reply;
}

void PostgresQueue::GatherStatisticsOnce(std::atomic<bool>& done) {
  if (done.exchange(true)) return;
  (void)Exec(statements_.gather_statistics, {});
}

Result<OfferReply> PostgresQueue::OfferBatch(const OfferRequest& request, size_t begin,
                                             size_t end) {
  std::vector<std::optional<std::string>> tenants, payloads, priorities, delays, ttls;
  for (size_t i = begin; i < end; ++i) {
    const OfferItem& item = request.items[i];
    tenants.push_back(item.tenant);
    payloads.push_back(Hex(item.payload));
    priorities.push_back(std::to_string(item.priority));
    delays.push_back(std::to_string(Micros(item.delay)));
    ttls.push_back(item.ttl ? std::optional<std::string>(std::to_string(Micros(*item.ttl)))
                            : std::nullopt);
  }
  Result<Rows> rows =
      Exec(statements_.offer,
           {TextParam(request.queue.group), TextParam(request.queue.queue),
            TextParam(request.unique ? "true" : "false"),
            request.fence ? TextParam(request.fence->lease) : Param(),
            request.fence ? IntParam(static_cast<int64_t>(request.fence->token)) : Param(),
            ArrayParam(tenants), ArrayParam(payloads), ArrayParam(priorities), ArrayParam(delays),
            ArrayParam(ttls)});
  if (!rows) return rows.error();
  OfferReply reply;
  if (rows->size() != 1) return Error(ErrorCode::kInternal, Describe() + ": offer: no reply");
  reply.fenced_out = rows->Bool(0, 0);
  if (reply.fenced_out) return reply;
  // r_ids in array syntax: {1,2,NULL,...}
  const std::string ids = rows->Text(0, 1);
  size_t at = 1;
  while (at < ids.size() && ids[at] != '}') {
    const size_t comma = std::min(ids.find(',', at), ids.size() - 1);
    const std::string element = ids.substr(at, comma - at);
    reply.ids.push_back(element == "NULL" ? std::optional<uint64_t>()
                                          : std::optional<uint64_t>(std::stoull(element)));
    at = comma + 1;
  }
  if (reply.ids.size() != end - begin) {
    return Error(ErrorCode::kInternal, Describe() + ": offer returned " +
                                           std::to_string(reply.ids.size()) + " ids for " +
                                           std::to_string(end - begin) + " items");
  }
  return reply;
}

Result<ClaimReply> PostgresQueue::Claim(const ClaimRequest& request) {
  if (auto r = queue_detail::CheckClaim(request); !r) return r.error();
  // How long we have watched counts up to the moment the request leaves.
  const TimePoint sent = clock_.Now();
  std::vector<std::optional<std::string>> ids, tokens, extensions, watched_us;
  for (const ClaimWatch::Watched& w : watch_.Before(sent)) {
    ids.push_back(std::to_string(w.claim.item));
    tokens.push_back(std::to_string(w.claim.token));
    extensions.push_back(std::to_string(w.claim.extensions));
    watched_us.push_back(std::to_string(Micros(w.watched_for)));
  }
  std::vector<std::optional<std::string>> ack_ids, ack_tokens;
  for (const ClaimRef& claim : request.acknowledge) {
    ack_ids.push_back(std::to_string(claim.item));
    ack_tokens.push_back(std::to_string(claim.claim_token));
  }
  const int max_items = std::min(request.max_items, kMaxClaimItems);
  const bool list_running = watch_.ListingDue(sent, kListRunningEvery);
  Result<Rows> rows = Exec(
      statements_.claim,
      {TextParam(request.queue.group), TextParam(request.queue.queue), TextParam(request.worker),
       IntParam(max_items), IntParam(Micros(request.visibility)), IntParam(request.max_attempts),
       ArrayParam(ids), ArrayParam(tokens), ArrayParam(extensions), ArrayParam(watched_us),
       ArrayParam(ack_ids), ArrayParam(ack_tokens), TextParam(list_running ? "true" : "false")});
  if (!rows) return rows.error();
  const TimePoint received = clock_.Now();
  GatherStatisticsOnce(claim_statistics_);
  using std::chrono::microseconds;
  ClaimReply reply;
  std::vector<ClaimWatch::Claim> running;
  struct Expiry {
    uint64_t item;
    Duration visibility;
    Duration remaining;
  };
  std::vector<Expiry> expiries;
  std::optional<Duration> next;
  for (int i = 0; i < rows->size(); ++i) {
    const std::string kind = rows->Text(i, 0);
    if (kind == "acked") {
      reply.acknowledged.push_back(OutcomeFrom(rows->Text(i, 9)));
    } else if (kind == "paused") {
      reply.paused = true;
    } else if (kind == "item") {
      reply.items.push_back(ClaimedItem{.id = static_cast<uint64_t>(rows->Int(i, 1)),
                                        .tenant = rows->Text(i, 2),
                                        .payload = FromByteaText(rows->Text(i, 3)),
                                        .attempt = static_cast<int>(rows->Int(i, 4)),
                                        .claim_token = static_cast<uint64_t>(rows->Int(i, 5))});
    } else if (kind == "running") {
      const uint64_t item = static_cast<uint64_t>(rows->Int(i, 1));
      running.push_back({.item = item,
                         .token = static_cast<uint64_t>(rows->Int(i, 5)),
                         .extensions = static_cast<uint64_t>(rows->Int(i, 6))});
      expiries.push_back({item, microseconds(rows->Int(i, 7)), microseconds(rows->Int(i, 8))});
    } else if (kind == "next") {
      next = microseconds(rows->Int(i, 8));
    }
  }
  if (reply.acknowledged.size() != request.acknowledge.size()) {
    return Error(ErrorCode::kInternal, Describe() + ": claim acknowledged the wrong count");
  }
  if (reply.paused) return reply;
  // The function lists the running claims when asked or when it claimed fewer than asked.
  if (list_running || reply.items.size() < static_cast<size_t>(max_items)) {
    watch_.Seen(running, running.size() < static_cast<size_t>(kRunningListed), received);
  }
  // A running claim may be taken back once the database says it expired and our own watch of
  // it has lasted its visibility.
  for (const Expiry& e : expiries) {
    const Duration at =
        std::max({Duration::zero(), e.remaining, watch_.Left(e.item, e.visibility, received)});
    if (!next || at < *next) next = at;
  }
  reply.next_try = next;
  return reply;
}

Result<ClaimOutcome> PostgresQueue::Extend(const QueueKey& queue, const ClaimRef& claim,
                                           Duration visibility) {
  if (visibility <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "the claim's visibility must be positive");
  }
  Result<Rows> rows = Exec(
      statements_.extend,
      {TextParam(queue.group), TextParam(queue.queue), IntParam(static_cast<int64_t>(claim.item)),
       IntParam(static_cast<int64_t>(claim.claim_token)), IntParam(Micros(visibility))});
  if (!rows) return rows.error();
  return OutcomeFrom(rows->size() == 1 ? rows->Text(0, 0) : "");
}

Result<std::vector<ClaimOutcome>> PostgresQueue::Acknowledge(const QueueKey& queue,
                                                             const std::vector<ClaimRef>& claims) {
  std::vector<ClaimOutcome> outcomes;
  if (claims.empty()) return outcomes;
  if (auto r = queue_detail::CheckAcknowledge(claims); !r) return r.error();
  std::vector<std::optional<std::string>> ids, tokens;
  for (const ClaimRef& claim : claims) {
    ids.push_back(std::to_string(claim.item));
    tokens.push_back(std::to_string(claim.claim_token));
  }
  Result<Rows> rows = Exec(statements_.ack, {TextParam(queue.group), TextParam(queue.queue),
                                             ArrayParam(ids), ArrayParam(tokens)});
  if (!rows) return rows.error();
  for (int i = 0; i < rows->size(); ++i) outcomes.push_back(OutcomeFrom(rows->Text(i, 0)));
  if (outcomes.size() != claims.size()) {
    return Error(ErrorCode::kInternal, Describe() + ": acknowledge returned the wrong count");
  }
  return outcomes;
}

Result<FailReply> PostgresQueue::Fail(const QueueKey& queue, const ClaimRef& claim,
                                      const FailRequest& failure) {
  if (failure.retry_after < Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "retry_after must not be negative");
  }
  Result<Rows> rows = Exec(
      statements_.fail,
      {TextParam(queue.group), TextParam(queue.queue), IntParam(static_cast<int64_t>(claim.item)),
       IntParam(static_cast<int64_t>(claim.claim_token)),
       TextParam(queue_detail::ErrorTail(failure.error)),
       failure.exit_code ? IntParam(*failure.exit_code) : Param(),
       IntParam(Micros(failure.retry_after)), TextParam(failure.dead_now ? "true" : "false")});
  if (!rows) return rows.error();
  if (rows->size() != 1) return Error(ErrorCode::kInternal, Describe() + ": fail: no reply");
  return FailReply{.outcome = OutcomeFrom(rows->Text(0, 0)), .dead = rows->Bool(0, 1)};
}

Result<ClaimOutcome> PostgresQueue::Release(const QueueKey& queue, const ClaimRef& claim) {
  Result<Rows> rows = Exec(
      statements_.release,
      {TextParam(queue.group), TextParam(queue.queue), IntParam(static_cast<int64_t>(claim.item)),
       IntParam(static_cast<int64_t>(claim.claim_token)), IntParam(kMaxReleases)});
  if (!rows) return rows.error();
  return OutcomeFrom(rows->size() == 1 ? rows->Text(0, 0) : "");
}

std::unique_ptr<Subscription> PostgresQueue::WatchOffers(const QueueKey& queue,
                                                         std::function<void()> on_offer) {
  return std::make_unique<OfferWatcher>(settings_, statements_.channel, clock_, queue,
                                        std::move(on_offer));
}

}  // namespace postgres_detail

Result<std::unique_ptr<Queue>> OpenPostgresQueue(const PostgresStoreOptions& options) {
  using namespace postgres_detail;
  Result<ConnectionSettings> settings = CheckedSettings(options);
  if (!settings) return settings.error();
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  auto queue = std::make_unique<PostgresQueue>(options, clock, std::move(settings).value());
  if (auto r = queue->Start(); !r) return r.error();
  return std::unique_ptr<Queue>(std::move(queue));
}

}  // namespace baton
