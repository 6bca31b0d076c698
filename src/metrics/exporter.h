#pragma once

#include <memory>
#include <string>

#include "baton/events.h"
#include "baton/queue.h"
#include "baton/result.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace baton::metrics {

class EventMetrics;
class QueueDepth;

// Serves the metrics of one baton process at http://HOST:PORT/metrics in Prometheus' text
// format (SPEC 6): the events of its electors, workers and schedulers (events()), and the
// depth of the queues it was told of (WatchQueue()).
//
// Thread safety: events() may be used from any thread; WatchQueue() from one thread.
class Exporter final {
 public:
  // Listens on `address`: HOST:PORT, where HOST is an IPv4 address, [IPv6] or localhost, or
  // a bare PORT (or :PORT) for 127.0.0.1. Port 0 takes a free port (see port()).
  // kInvalidArgument for an address it cannot read; kUnavailable when it cannot listen there
  // (the port in use, an address not on this host).
  static Result<std::unique_ptr<Exporter>> Start(const std::string& address);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // The sink to hand the electors, workers and schedulers. Lives as long as this object.
  EventSink& events();
  // Reads `key`'s depth from `queue` at each scrape. REQUIRES: `queue` outlives this object.
  void WatchQueue(Queue& queue, const QueueKey& key);
  // The address served, with the port actually bound: "127.0.0.1:9100".
  const std::string& address() const { return address_; }

 private:
  Exporter() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<EventMetrics> events_;
  std::shared_ptr<QueueDepth> queues_;
  std::string address_;
  // Last: stopped first, so no scrape runs while the rest is destroyed.
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace baton::metrics
