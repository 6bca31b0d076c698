#pragma once

// Heartbeat round trips of many `baton run` processes, measured from outside: each process
// serves baton_heartbeat_duration_seconds (a Prometheus histogram, --metrics), and the sum of
// their buckets between two scrapes is the window's distribution. Bucket bounds are coarse
// (0.5, 1, 2, 5, 10, 20, 50 ms ...), so a percentile is reported as the bound it lies under.
//
// Thread safety: none needed; plain functions over values.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baton::bench {

// Cumulative heartbeat counts by bucket bound in seconds (+infinity last), over processes.
using HeartbeatBuckets = std::map<double, double>;

// Scrapes every address ("127.0.0.1:PORT") and sums their heartbeat buckets; nullopt, having
// said which on stderr, when one of them did not answer.
std::optional<HeartbeatBuckets> ScrapeHeartbeatBuckets(const std::vector<std::string>& addresses);

struct HeartbeatLatency {
  int64_t heartbeats = 0;
  double p50_ms = 0;  // The bucket bound the percentile lies under; +infinity past the last.
  double p99_ms = 0;
  double max_ms = 0;  // The bound of the highest bucket with a heartbeat in it.
};

// The heartbeats between two scrapes of the same processes.
HeartbeatLatency LatencyBetween(const HeartbeatBuckets& before, const HeartbeatBuckets& after);

}  // namespace baton::bench
