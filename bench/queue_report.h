#pragma once

// The queue benchmarks' Markdown tables, built from their JSON result lines (one object per
// measurement: "kind" is throughput, latency, stuck, heartbeat or peer) so that results of
// several runs — both stores, and the graphile-worker peer — make one table. Pure functions;
// any thread.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace baton::bench {

// Items/s per configuration (the median of its runs), with ratios to graphile-worker when
// peer lines are given, and SPEC 3's must/goal.
std::string FormatThroughputTable(const std::vector<nlohmann::json>& results);

// graphile-worker's own rows.
std::string FormatPeerTable(const std::vector<nlohmann::json>& results);

// Offer → claim latency, stuck item re-claim minus visibility, heartbeat under queue load.
std::string FormatTimingTable(const std::vector<nlohmann::json>& results);

// Every problem a result line reports, one bullet each; empty when there are none.
std::string FormatProblems(const std::vector<nlohmann::json>& results);

}  // namespace baton::bench
