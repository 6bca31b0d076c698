// baton-queue-table: joins the JSON result lines of baton-queue-bench (both stores) and of the
// graphile-worker peer (bench/peer/graphile/bench.js) into the tables the README reports.
//
//   baton-queue-table FILE...
//
// Lines that are not JSON objects are skipped with a warning. Exits 1 when a result reports
// a problem, 2 when a file cannot be read.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.h"
#include "queue_report.h"

int main(int argc, char** argv) {
  using nlohmann::json;
  if (argc < 2) {
    std::fprintf(stderr, "usage: baton-queue-table FILE...\n");
    return 2;
  }
  std::vector<json> results;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) {
      std::fprintf(stderr, "baton-queue-table: cannot read %s\n", argv[i]);
      return 2;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        std::fprintf(stderr, "baton-queue-table: %s: not a JSON object: %.80s\n", argv[i],
                     line.c_str());
        continue;
      }
      results.push_back(std::move(j));
    }
  }
  double load_min = 1e9;
  double load_max = 0;
  bool broken = false;
  for (const json& j : results) {
    if (j.contains("load_1m")) {
      load_min = std::min(load_min, j.value("load_1m", 0.0));
      load_max = std::max(load_max, j.value("load_1m", 0.0));
    }
    broken = broken || (!j.value("ok", false) && j.value("skipped", "").empty());
  }
  std::printf("Queue throughput (items claimed + processed + acknowledged per second):\n\n%s\n",
              baton::bench::FormatThroughputTable(results).c_str());
  const std::string peers = baton::bench::FormatPeerTable(results);
  if (!peers.empty())
    std::printf("The peer, on the same PostgreSQL in the same run:\n\n%s\n", peers.c_str());
  std::printf("Queue latencies:\n\n%s\n", baton::bench::FormatTimingTable(results).c_str());
  if (load_max > 0) {
    std::printf(
        "1-minute load average between %.2f and %.2f while these were measured, on %ld "
        "CPUs.\n",
        load_min, load_max, sysconf(_SC_NPROCESSORS_ONLN));
  }
  const std::string problems = baton::bench::FormatProblems(results);
  if (!problems.empty()) std::printf("\nProblems:\n%s", problems.c_str());
  return broken ? 1 : 0;
}
