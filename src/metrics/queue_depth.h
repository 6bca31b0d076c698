#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <mutex>
#include <vector>

#include "baton/queue.h"

namespace baton::metrics {

// The depth of queues by state, read from the store at each scrape (SPEC 6: queue depth by
// state, expired items): baton_queue_items{state}, baton_queue_tenants_pending,
// baton_queue_oldest_pending_age_seconds, baton_queue_paused, baton_queue_expired_items_total,
// and baton_queue_stats_up (0 when the store could not answer this scrape, so a scrape never
// fails for it and never shows stale depths as fresh).
//
// The depths are the whole queue's, as every instance sees them; the items this instance
// processed are EventMetrics'.
//
// Thread safety: Add() before the exporter serves; Collect() from the exporter's threads.
class QueueDepth final : public prometheus::Collectable {
 public:
  // REQUIRES: `queue` outlives this object. The same key twice is kept once.
  void Add(Queue& queue, const QueueKey& key);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Watched {
    Queue* queue;
    QueueKey key;
  };
  mutable std::mutex mu_;
  std::vector<Watched> watched_;  // GUARDED_BY(mu_)
};

}  // namespace baton::metrics
