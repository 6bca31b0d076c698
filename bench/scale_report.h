#pragma once

// What baton-pg-scale-bench measured at one point (groups × instances), its Markdown table
// and its JSON line for bench/scale_table.py. Pure functions; any thread.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "server_stats.h"

namespace baton::bench {

struct ScalePoint {
  int groups = 0;
  int per_group = 0;
  std::string ttl_text;  // As given: "10s".
  std::chrono::nanoseconds heartbeat{};
  std::string window_text;  // As given: "30s".
  std::chrono::nanoseconds window{};
  std::vector<double> samples_ms;      // Every heartbeat of the window, from sending to reply.
  int failed = 0;                      // Heartbeats that failed in the window.
  std::optional<ServerWindow> server;  // With --stats.
  double crash_failover_ms = -1;       // -1: not measured.
  int active_groups = 0;               // Groups with an active instance after the window.
  double load_start = 0;
  double load_end = 0;
  long cpus = 0;
};

// The one-row table and how it was measured.
std::string FormatScaleReport(const ScalePoint& point);

// The point as one line of JSON (no newline).
std::string ScaleJsonLine(const ScalePoint& point);

}  // namespace baton::bench
