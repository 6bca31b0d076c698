#include "metrics/queue_depth.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace baton::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily NewFamily(const char* name, const char* help, MetricType type) {
  MetricFamily family;
  family.name = name;
  family.help = help;
  family.type = type;
  return family;
}

ClientMetric Sample(const QueueKey& key, double value, MetricType type,
                    std::vector<ClientMetric::Label> more = {}) {
  ClientMetric metric;
  metric.label = {{"group", key.group}, {"queue", key.queue}};
  for (auto& label : more) metric.label.push_back(std::move(label));
  std::sort(metric.label.begin(), metric.label.end());
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

}  // namespace

void QueueDepth::Add(Queue& queue, const QueueKey& key) {
  std::lock_guard lock(mu_);
  for (const Watched& w : watched_) {
    if (w.queue == &queue && w.key.group == key.group && w.key.queue == key.queue) return;
  }
  watched_.push_back({&queue, key});
}

std::vector<MetricFamily> QueueDepth::Collect() const {
  std::lock_guard lock(mu_);
  MetricFamily up =
      NewFamily("baton_queue_stats_up", "1 when the store answered this scrape's read of the queue",
                MetricType::Gauge);
  MetricFamily items =
      NewFamily("baton_queue_items",
                "Items in the queue now, by state: pending (ready), waiting (delayed or waiting to "
                "retry), running (claimed), dead (dead letters)",
                MetricType::Gauge);
  MetricFamily tenants = NewFamily("baton_queue_tenants_pending",
                                   "Tenants with a pending or waiting item", MetricType::Gauge);
  MetricFamily oldest =
      NewFamily("baton_queue_oldest_pending_age_seconds",
                "Age of the oldest ready item since its offer (0 when none)", MetricType::Gauge);
  MetricFamily paused =
      NewFamily("baton_queue_paused", "1 while the queue is paused", MetricType::Gauge);
  MetricFamily expired =
      NewFamily("baton_queue_expired_items_total",
                "Items dropped unprocessed past their time-to-live, over the queue's life",
                MetricType::Counter);
  for (const Watched& w : watched_) {
    Result<QueueStats> stats = w.queue->Stats(w.key);
    up.metric.push_back(Sample(w.key, stats ? 1 : 0, MetricType::Gauge));
    if (!stats) continue;
    for (const auto& [state, n] :
         {std::pair{"pending", stats->pending}, std::pair{"waiting", stats->waiting},
          std::pair{"running", stats->running}, std::pair{"dead", stats->dead}}) {
      items.metric.push_back(
          Sample(w.key, static_cast<double>(n), MetricType::Gauge, {{"state", state}}));
    }
    tenants.metric.push_back(
        Sample(w.key, static_cast<double>(stats->tenants_pending), MetricType::Gauge));
    const double age = stats->oldest_pending_age
                           ? std::chrono::duration<double>(*stats->oldest_pending_age).count()
                           : 0.0;
    oldest.metric.push_back(Sample(w.key, age, MetricType::Gauge));
    paused.metric.push_back(Sample(w.key, stats->paused ? 1 : 0, MetricType::Gauge));
    expired.metric.push_back(
        Sample(w.key, static_cast<double>(stats->expired_total), MetricType::Counter));
  }
  std::vector<MetricFamily> families;
  for (MetricFamily* f : {&up, &items, &tenants, &oldest, &paused, &expired}) {
    if (!f->metric.empty()) families.push_back(std::move(*f));
  }
  return families;
}

}  // namespace baton::metrics
