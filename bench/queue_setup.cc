#include "queue_setup.h"

#include <cstdio>
#include <cstdlib>

#include "baton/postgres_store.h"
#include "baton/sqlite_store.h"

namespace baton::bench {

std::unique_ptr<Queue> OpenQueueOrExit(const QueueTarget& target) {
  Result<std::unique_ptr<Queue>> queue = Error(ErrorCode::kInternal, "");
  if (target.kind == "sqlite") {
    SqliteStoreOptions options;
    options.path = target.path;
    queue = OpenSqliteQueue(options);
  } else {
    PostgresStoreOptions options;
    options.url = target.url;
    queue = OpenPostgresQueue(options);
  }
  if (!queue) {
    std::fprintf(stderr, "bench: cannot open the queue: %s\n", queue.error().message().c_str());
    std::exit(2);
  }
  return std::move(queue).value();
}

std::unique_ptr<Store> OpenStoreOrExit(const QueueTarget& target) {
  Result<std::unique_ptr<Store>> store = Error(ErrorCode::kInternal, "");
  if (target.kind == "sqlite") {
    SqliteStoreOptions options;
    options.path = target.path;
    store = OpenSqliteStore(options);
  } else {
    PostgresStoreOptions options;
    options.url = target.url;
    store = OpenPostgresStore(options);
  }
  if (!store) {
    std::fprintf(stderr, "bench: cannot open the store: %s\n", store.error().message().c_str());
    std::exit(2);
  }
  return std::move(store).value();
}

std::string TenantOf(int64_t i, int tenants) { return "tenant-" + std::to_string(i % tenants); }

Result<std::vector<uint64_t>> OfferItems(Queue& queue, const QueueKey& key, int64_t first,
                                         int64_t count, int tenants) {
  std::vector<uint64_t> ids;
  ids.reserve(static_cast<size_t>(count));
  for (int64_t done = 0; done < count;) {
    OfferRequest request;
    request.queue = key;
    const int64_t batch = std::min<int64_t>(kMaxRowsPerTransaction, count - done);
    for (int64_t i = first + done; i < first + done + batch; ++i) {
      OfferItem item;
      item.tenant = TenantOf(i, tenants);
      item.payload = std::to_string(i);
      request.items.push_back(std::move(item));
    }
    Result<OfferReply> reply = queue.Offer(request);
    if (!reply) return reply.error();
    for (const std::optional<uint64_t>& id : reply->ids) {
      if (!id)
        return Error(ErrorCode::kInternal, "an offer without unique or fence skipped an item");
      ids.push_back(*id);
    }
    done += batch;
  }
  return ids;
}

ItemAccount::ItemAccount(const std::vector<uint64_t>& ids)
    : seen_(std::make_unique<std::atomic<uint32_t>[]>(ids.size())), size_(ids.size()) {
  index_.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    index_.emplace(ids[i], i);
    seen_[i] = 0;
  }
}

void ItemAccount::Count(uint64_t id) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  const auto it = index_.find(id);
  if (it == index_.end()) {
    unknown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  seen_[it->second].fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::string> ItemAccount::Check() const {
  int64_t missing = 0;
  int64_t repeated = 0;
  uint64_t first_missing = 0;
  uint64_t first_repeated = 0;
  for (const auto& [id, i] : index_) {
    const uint32_t n = seen_[i].load();
    if (n == 0 && missing++ == 0) first_missing = id;
    if (n > 1 && repeated++ == 0) first_repeated = id;
  }
  std::vector<std::string> problems;
  if (missing > 0) {
    problems.push_back(std::to_string(missing) + " of " + std::to_string(size_) +
                       " offered items never ran (item " + std::to_string(first_missing) +
                       " for one)");
  }
  if (repeated > 0) {
    problems.push_back(std::to_string(repeated) + " items ran more than once (item " +
                       std::to_string(first_repeated) + " for one)");
  }
  if (unknown_ > 0) {
    problems.push_back(std::to_string(unknown_.load()) + " runs of items never offered");
  }
  return problems;
}

std::vector<std::string> CheckDrained(Queue& queue, const QueueKey& key, int64_t offered) {
  Result<QueueStats> stats = queue.Stats(key);
  if (!stats) return {"Stats failed: " + stats.error().message()};
  std::vector<std::string> problems;
  const auto expect = [&problems](const char* what, int64_t got, int64_t want) {
    if (got != want) {
      problems.push_back(std::string("Stats: ") + what + " " + std::to_string(got) + ", expected " +
                         std::to_string(want));
    }
  };
  expect("done_total", stats->done_total, offered);
  expect("pending", stats->pending, 0);
  expect("waiting", stats->waiting, 0);
  expect("running", stats->running, 0);
  expect("dead", stats->dead, 0);
  expect("failed_total", stats->failed_total, 0);
  expect("expired_total", stats->expired_total, 0);
  return problems;
}

}  // namespace baton::bench
