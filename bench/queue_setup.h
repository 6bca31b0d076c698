#pragma once

// What the queue benchmarks share: the store they run on, opening its queue and lease
// connections, offering items (untimed), and checking that every offered item was done
// exactly once.
//
// Thread safety: QueueTarget is a value; ItemAccount may be counted from any thread once
// built (Count), and read (Check) after every counting thread has stopped.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "baton/queue.h"
#include "baton/store.h"

namespace baton::bench {

// Where the queues live: a SQLite file or a PostgreSQL database.
struct QueueTarget {
  std::string kind;  // "sqlite" or "postgresql".
  std::string url;   // postgresql: the libpq URL.
  std::string path;  // sqlite: the database file.

  // The --store URL `baton` takes for this target.
  std::string StoreUrl() const { return kind == "sqlite" ? "sqlite:" + path : url; }
};

// A new queue handle (a connection of its own); exits with code 2, saying why, on failure.
std::unique_ptr<Queue> OpenQueueOrExit(const QueueTarget& target);
// A new lease store on the same database; exits with code 2 on failure.
std::unique_ptr<Store> OpenStoreOrExit(const QueueTarget& target);

// The tenant of item number `i` when `tenants` tenants share the items.
std::string TenantOf(int64_t i, int tenants);

// Offers `count` items, item i to TenantOf(first + i, tenants) with payload "<first + i>", in
// transactions of kMaxRowsPerTransaction. Returns the ids in order, or the error.
Result<std::vector<uint64_t>> OfferItems(Queue& queue, const QueueKey& key, int64_t first,
                                         int64_t count, int tenants);

// Which offered item the work saw how often. Built from the offered ids; Count is lock-free.
class ItemAccount final {
 public:
  explicit ItemAccount(const std::vector<uint64_t>& ids);
  // One run of the work of item `id`.
  void Count(uint64_t id);
  int64_t calls() const { return calls_.load(); }
  // Problems, in words: items never run, run twice or more, or ids never offered.
  std::vector<std::string> Check() const;

 private:
  std::unordered_map<uint64_t, size_t> index_;
  std::unique_ptr<std::atomic<uint32_t>[]> seen_;
  size_t size_ = 0;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> unknown_{0};
};

// Problems with the store's own account of a queue all of whose `offered` items should be
// done: done_total differs, or something is still pending, waiting, running or dead.
std::vector<std::string> CheckDrained(Queue& queue, const QueueKey& key, int64_t offered);

}  // namespace baton::bench
