// SqliteQueue: opening, offers and the helpers every queue call shares.

#include <chrono>
#include <thread>
#include <utility>

#include "filesystem.h"
#include "offer_watcher.h"
#include "queue_impl.h"
#include "sqlite_store_impl.h"

namespace baton {
namespace sqlite_detail {
namespace {

// Rows of an earlier boot: their times mean nothing now. A claim counts as expired, a delay
// as over and a time-to-live as passed (the scheduler's next round offers the tenant again).
constexpr const char* kRebase =
    "UPDATE baton_queue_items SET ready_ns = ?1, offered_ns = ?1, "
    "expires_ns = CASE WHEN expires_ns IS NULL THEN NULL ELSE ?1 END, "
    "claim_expiry_ns = CASE WHEN claim_expiry_ns IS NULL THEN NULL ELSE ?1 END, boot_id = ?2 "
    "WHERE id IN (SELECT id FROM baton_queue_items WHERE boot_id <> ?2 LIMIT ?3)";
constexpr const char* kNoteOffer =
    "INSERT INTO baton_queues (group_name, queue, offers) VALUES (?1, ?2, 1) "
    "ON CONFLICT (group_name, queue) DO UPDATE SET offers = offers + 1";
constexpr const char* kFence =
    "SELECT count(*) FROM baton_leases WHERE group_name = ?1 AND name = ?2 AND token = ?3 "
    "AND holder <> '' AND expiry_ns > ?4 AND boot_id = ?5";
constexpr const char* kEnsureTenant =
    "INSERT INTO baton_queue_tenants (group_name, queue, tenant) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (group_name, queue, tenant) DO NOTHING";
// An expired pending item is replaced by a unique offer (and counted as expired).
constexpr const char* kDropExpiredOfTenant =
    "DELETE FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3 "
    "AND state = 'pending' AND expires_ns IS NOT NULL AND expires_ns <= ?4";
constexpr const char* kHasLiveItem =
    "SELECT count(*) FROM baton_queue_items WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3 "
    "AND state IN ('pending', 'running', 'cancelled')";
constexpr const char* kInsertItem =
    "INSERT INTO baton_queue_items (group_name, queue, tenant, payload, priority, state, "
    "is_unique, offered_ms, offered_ns, ready_ns, expires_ns, boot_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id";
constexpr const char* kDeleteItem = "DELETE FROM baton_queue_items WHERE id = ?1";
constexpr const char* kTenantOf = "SELECT tenant FROM baton_queue_items WHERE id = ?1";
constexpr const char* kNoteSuccess =
    "UPDATE baton_queue_tenants SET last_success_ms = ?4 "
    "WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3";
constexpr const char* kNoteFailure =
    "UPDATE baton_queue_tenants SET last_failure_ms = ?4, last_error = ?5 "
    "WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3";

}  // namespace

int64_t WallMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromWallMillis(int64_t ms) {
  using namespace std::chrono;
  return system_clock::time_point(duration_cast<system_clock::duration>(milliseconds(ms)));
}

void PauseBetweenBatches() { std::this_thread::sleep_for(kBatchPause); }

SqliteQueue::SqliteQueue(std::unique_ptr<Connection> connection, const SqliteStoreOptions& options,
                         Clock& clock, std::string boot_id)
    : path_(options.path),
      describe_(connection->describe()),
      poll_(options.release_poll),
      clock_(clock),
      boot_id_(std::move(boot_id)),
      connection_(std::move(connection)) {}

namespace {

// For its lifetime, the queue connection commits with an fsync (synchronous=FULL), as the
// lease store does; it goes back to NORMAL after. REQUIRES: no transaction open.
class Durable final {
 public:
  explicit Durable(Connection& c) : c_(c) {
    (void)c_.Exec("PRAGMA synchronous = FULL", "setting synchronous=FULL");
  }
  ~Durable() { (void)c_.Exec("PRAGMA synchronous = NORMAL", "setting synchronous=NORMAL"); }
  Durable(const Durable&) = delete;
  Durable& operator=(const Durable&) = delete;

 private:
  Connection& c_;
};

}  // namespace

StoreTime SqliteQueue::Now() const {
  return StoreTime{.now_ns = clock_.Now().time_since_epoch().count(), .boot_id = boot_id_};
}

Result<int64_t> SqliteQueue::InBatches(const char* what, const std::function<Result<int>()>& step) {
  int64_t total = 0;
  for (bool first = true;; first = false) {
    if (!first) PauseBetweenBatches();  // With mu_ free, for this process's calls too.
    std::lock_guard lock(mu_);
    Transaction tx(*connection_, Transaction::Kind::kWrite, what);
    if (auto r = tx.Begin(); !r) return r.error();
    Result<int> changed = step();
    if (!changed) return changed.error();
    if (auto r = tx.Commit(); !r) return r.error();
    total += *changed;
    if (*changed < kMaxRowsPerTransaction) return total;
  }
}

Result<void> SqliteQueue::Rebase() {
  Result<int64_t> moved = InBatches("moving queue items to this boot", [&]() -> Result<int> {
    Result<Statement> rebase = connection_->Prepare(kRebase, "moving queue items to this boot");
    if (!rebase) return rebase.error();
    const StoreTime time = Now();
    return rebase->Bind(time.now_ns).Bind(time.boot_id).Bind(int64_t{kMaxRowsPerTransaction}).Run();
  });
  if (!moved) return moved.error();
  return Ok();
}

Result<OfferReply> SqliteQueue::Offer(const OfferRequest& request) {
  if (auto r = queue_detail::CheckOffer(request); !r) return r.error();
  OfferReply reply;
  reply.ids.resize(request.items.size());
  for (size_t begin = 0; begin < request.items.size() || begin == 0;
       begin += kMaxRowsPerTransaction) {
    const size_t end = std::min(request.items.size(), begin + kMaxRowsPerTransaction);
    Result<bool> held = OfferBatch(request, begin, end, reply);
    if (!held) return held.error();
    if (!*held) {
      reply.fenced_out = true;
      break;
    }
    if (end >= request.items.size()) break;
    PauseBetweenBatches();
  }
  return reply;
}

Result<bool> SqliteQueue::OfferBatch(const OfferRequest& request, size_t begin, size_t end,
                                     OfferReply& reply) {
  std::lock_guard lock(mu_);
  // An offer is new work: durable before it counts, like a lease write (see OpenSqliteQueue).
  Durable durable(*connection_);
  Transaction tx(*connection_, Transaction::Kind::kWrite, "offering items");
  if (auto r = tx.Begin(); !r) return r.error();
  const StoreTime time = Now();
  Result<bool> held = FenceHolds(request.queue.group, request.fence, time);
  if (!held || !*held) return held;  // Fenced out: the rollback undoes nothing.
  std::vector<std::optional<uint64_t>> ids;
  for (size_t i = begin; i < end; ++i) {
    Result<std::optional<uint64_t>> id = OfferOne(request, request.items[i], time);
    if (!id) return id.error();
    ids.push_back(*id);
  }
  {
    Result<Statement> note = connection_->Prepare(kNoteOffer, "offering items");
    if (!note) return note.error();
    if (auto r = note->Bind(request.queue.group).Bind(request.queue.queue).Run(); !r) {
      return r.error();
    }
  }
  if (auto r = tx.Commit(); !r) return r.error();
  for (size_t i = begin; i < end; ++i) reply.ids[i] = ids[i - begin];
  return true;
}

Result<bool> SqliteQueue::FenceHolds(const std::string& group,
                                     const std::optional<OfferFence>& fence,
                                     const StoreTime& time) {
  if (!fence) return true;
  Result<Statement> check = connection_->Prepare(kFence, "checking the scheduler's fence");
  if (!check) return check.error();
  Result<bool> row = check->Bind(group)
                         .Bind(fence->lease)
                         .Bind(static_cast<int64_t>(fence->token))
                         .Bind(time.now_ns)
                         .Bind(time.boot_id)
                         .Step();
  if (!row) return row.error();
  return *row && check->Int(0) > 0;
}

Result<std::optional<uint64_t>> SqliteQueue::OfferOne(const OfferRequest& request,
                                                      const OfferItem& item,
                                                      const StoreTime& time) {
  const QueueKey& key = request.queue;
  if (auto r = EnsureTenant(key, item.tenant); !r) return r.error();
  if (request.unique) {
    int dropped = 0;
    {
      Result<Statement> drop = connection_->Prepare(kDropExpiredOfTenant, "offering items");
      if (!drop) return drop.error();
      Result<int> n =
          drop->Bind(key.group).Bind(key.queue).Bind(item.tenant).Bind(time.now_ns).Run();
      if (!n) return n.error();
      dropped = *n;
    }
    if (dropped > 0) {
      if (auto r = Count(key, item.tenant, "expired", dropped); !r) return r.error();
    }
    Result<Statement> live = connection_->Prepare(kHasLiveItem, "offering items");
    if (!live) return live.error();
    Result<bool> row = live->Bind(key.group).Bind(key.queue).Bind(item.tenant).Step();
    if (!row) return row.error();
    if (*row && live->Int(0) > 0) return std::optional<uint64_t>();  // Skipped.
  }
  Result<Statement> insert = connection_->Prepare(kInsertItem, "offering items");
  if (!insert) return insert.error();
  std::optional<int64_t> expires;
  if (item.ttl) expires = AddNanos(time.now_ns, *item.ttl);
  Result<bool> row = insert->Bind(key.group)
                         .Bind(key.queue)
                         .Bind(item.tenant)
                         .BindBlob(item.payload)
                         .Bind(int64_t{item.priority})
                         .Bind(int64_t{request.unique ? 1 : 0})
                         .Bind(WallMillis())
                         .Bind(time.now_ns)
                         .Bind(AddNanos(time.now_ns, item.delay))
                         .Bind(expires)
                         .Bind(time.boot_id)
                         .Step();
  if (!row) return row.error();
  if (!*row) return Error(ErrorCode::kInternal, describe_ + ": offering items: no id returned");
  return std::optional<uint64_t>(static_cast<uint64_t>(insert->Int(0)));
}

Result<void> SqliteQueue::EnsureTenant(const QueueKey& queue, const std::string& tenant) {
  Result<Statement> ensure = connection_->Prepare(kEnsureTenant, "recording the tenant");
  if (!ensure) return ensure.error();
  if (auto r = ensure->Bind(queue.group).Bind(queue.queue).Bind(tenant).Run(); !r) {
    return r.error();
  }
  return Ok();
}

Result<void> SqliteQueue::Count(const QueueKey& queue, const std::string& tenant,
                                const char* column, int64_t n) {
  // `column` is one of a fixed set of literals, never input; each gets its own statement.
  const std::string sql = std::string("UPDATE baton_queue_tenants SET ") + column + " = " + column +
                          " + ?4 WHERE group_name = ?1 AND queue = ?2 AND tenant = ?3";
  Result<Statement> count = connection_->Prepare(sql, "counting");
  if (!count) return count.error();
  if (auto r = count->Bind(queue.group).Bind(queue.queue).Bind(tenant).Bind(n).Run(); !r) {
    return r.error();
  }
  return Ok();
}

Result<void> SqliteQueue::NoteOutcome(const QueueKey& queue, const std::string& tenant,
                                      bool success, const std::string& error) {
  Result<Statement> note = connection_->Prepare(success ? kNoteSuccess : kNoteFailure,
                                                "recording the tenant's last outcome");
  if (!note) return note.error();
  note->Bind(queue.group).Bind(queue.queue).Bind(tenant).Bind(WallMillis());
  if (!success) note->Bind(error);
  if (auto r = note->Run(); !r) return r.error();
  return Ok();
}

Result<std::string> SqliteQueue::TenantOf(uint64_t id) {
  Result<Statement> select = connection_->Prepare(kTenantOf, "reading the item");
  if (!select) return select.error();
  Result<bool> row = select->Bind(static_cast<int64_t>(id)).Step();
  if (!row) return row.error();
  if (!*row) return std::string();
  return select->Text(0);
}

Result<void> SqliteQueue::DeleteItem(uint64_t id) {
  Result<Statement> remove = connection_->Prepare(kDeleteItem, "removing the item");
  if (!remove) return remove.error();
  if (auto r = remove->Bind(static_cast<int64_t>(id)).Run(); !r) return r.error();
  return Ok();
}

std::unique_ptr<Subscription> SqliteQueue::WatchOffers(const QueueKey& queue,
                                                       std::function<void()> on_offer) {
  return std::make_unique<OfferWatcher>(path_, describe_, clock_, poll_, queue,
                                        std::move(on_offer));
}

}  // namespace sqlite_detail

Result<std::unique_ptr<Queue>> OpenSqliteQueue(const SqliteStoreOptions& options) {
  using namespace sqlite_detail;
  const std::string describe = "sqlite:" + options.path;
  if (options.release_poll <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument,
                 describe + ": the release poll interval must be positive");
  }
  Result<std::string> boot_id = ReadBootId();
  if (!boot_id) return boot_id.error();
  if (auto r = PrepareStoreFile(options); !r) return r.error();
  Result<std::unique_ptr<Connection>> connection =
      OpenConnection(options, describe, Connection::Priority::kQueue);
  if (!connection) return connection.error();
  // Claims, extensions and acknowledgements commit without an fsync of their own (WAL with
  // synchronous=NORMAL): the file's one write lock is then held for microseconds, not for an
  // fsync, so heartbeats on the same file wait far less. What a power loss can undo is only
  // such a claim or outcome: every process of the host died with it, and the item runs again
  // (at least once). Offers stay durable (Durable), and the next durable commit on the file
  // (any heartbeat) syncs the ones before it.
  if (auto r = (*connection)->Exec("PRAGMA synchronous = NORMAL", "setting synchronous=NORMAL");
      !r) {
    return r.error();
  }
  Clock& clock = options.clock != nullptr ? *options.clock : Clock::Real();
  auto queue =
      std::make_unique<SqliteQueue>(std::move(*connection), options, clock, std::move(*boot_id));
  if (auto r = queue->Rebase(); !r) return r.error();
  return std::unique_ptr<Queue>(std::move(queue));
}

}  // namespace baton
