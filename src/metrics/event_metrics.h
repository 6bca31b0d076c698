#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "baton/events.h"

namespace baton::metrics {

// The Prometheus metrics of SPEC 6 that events tell (baton/events.h): an elector's (labels
// group and lease), a worker's and a scheduler's (labels group and queue). Names follow
// Prometheus conventions: the `baton_` prefix, `_total` counters, seconds.
//
// A series appears with the first event of its elector, worker or scheduler, so an instance
// that is still passive already shows baton_is_active 0 after its first heartbeat.
//
// Thread safety: OnEvent may be called from any thread, several at once; the registry's
// scrape reads the metrics meanwhile (prometheus-cpp's metrics are atomic).
class EventMetrics final : public EventSink {
 public:
  // Registers its families in `registry`, which must outlive this object.
  explicit EventMetrics(prometheus::Registry& registry);
  ~EventMetrics() override;

  void OnEvent(const Event& event) override;

 private:
  struct Lease;
  struct Work;
  struct Schedule;

  // The series of one (group, name), made on first use. REQUIRES: mu_ not held.
  Lease& LeaseOf(const Event& event);
  Work& WorkOf(const Event& event);
  Schedule& ScheduleOf(const Event& event);
  void OnLeaseEvent(const Event& event);
  void OnWorkEvent(const Event& event);
  void OnScheduleEvent(const Event& event);

  // Electors'.
  prometheus::Family<prometheus::Gauge>& is_active_;
  prometheus::Family<prometheus::Gauge>& token_;
  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Family<prometheus::Histogram>& heartbeat_seconds_;
  prometheus::Family<prometheus::Counter>& heartbeat_failures_;
  prometheus::Family<prometheus::Counter>& lease_losses_;
  prometheus::Family<prometheus::Counter>& late_acquisitions_;
  prometheus::Family<prometheus::Counter>& reaped_;
  // Workers'.
  prometheus::Family<prometheus::Histogram>& claim_seconds_;
  prometheus::Family<prometheus::Counter>& claim_failures_;
  prometheus::Family<prometheus::Counter>& claimed_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Counter>& stale_claims_;
  prometheus::Family<prometheus::Counter>& queue_errors_;
  prometheus::Family<prometheus::Histogram>& item_seconds_;
  // Schedulers'.
  prometheus::Family<prometheus::Counter>& rounds_;
  prometheus::Family<prometheus::Counter>& offered_;
  prometheus::Family<prometheus::Histogram>& round_seconds_;
  prometheus::Family<prometheus::Counter>& round_failures_;
  prometheus::Family<prometheus::Counter>& clock_steps_;

  using Key = std::pair<std::string, std::string>;  // (group, lease or queue)
  std::mutex mu_;
  std::map<Key, std::unique_ptr<Lease>> leases_;        // GUARDED_BY(mu_)
  std::map<Key, std::unique_ptr<Work>> works_;          // GUARDED_BY(mu_)
  std::map<Key, std::unique_ptr<Schedule>> schedules_;  // GUARDED_BY(mu_)
};

}  // namespace baton::metrics
