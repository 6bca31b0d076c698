#include "metrics_latency.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "support/metrics_scrape.h"

namespace baton::bench {
namespace {

constexpr const char* kBucket = "baton_heartbeat_duration_seconds_bucket{";

// The le="..." bound of a bucket series, in seconds.
std::optional<double> BoundOf(const std::string& series) {
  const size_t at = series.find("le=\"");
  if (at == std::string::npos) return std::nullopt;
  const size_t end = series.find('"', at + 4);
  if (end == std::string::npos) return std::nullopt;
  const std::string text = series.substr(at + 4, end - at - 4);
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<HeartbeatBuckets> ScrapeHeartbeatBuckets(const std::vector<std::string>& addresses) {
  HeartbeatBuckets sum;
  for (const std::string& address : addresses) {
    auto samples = test_support::Scrape(address);
    if (!samples) {
      std::fprintf(stderr, "bench: no metrics from http://%s/metrics\n", address.c_str());
      return std::nullopt;
    }
    for (auto it = samples->lower_bound(kBucket); it != samples->end(); ++it) {
      if (it->first.rfind(kBucket, 0) != 0) break;
      if (auto bound = BoundOf(it->first)) sum[*bound] += it->second;
    }
  }
  return sum;
}

HeartbeatLatency LatencyBetween(const HeartbeatBuckets& before, const HeartbeatBuckets& after) {
  HeartbeatLatency out;
  std::map<double, double> window;  // Cumulative counts within the window.
  for (const auto& [bound, count] : after) {
    auto was = before.find(bound);
    window[bound] = count - (was == before.end() ? 0 : was->second);
  }
  if (window.empty()) return out;
  const double total = window.rbegin()->second;
  out.heartbeats = static_cast<int64_t>(total);
  const auto bound_at = [&](double share) {
    for (const auto& [bound, count] : window) {
      if (count >= share * total) return bound * 1000;
    }
    return std::numeric_limits<double>::infinity();
  };
  out.p50_ms = bound_at(0.50);
  out.p99_ms = bound_at(0.99);
  out.max_ms = bound_at(1.0);
  return out;
}

}  // namespace baton::bench
