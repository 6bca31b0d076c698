#pragma once

// What baton-pg-statements-bench measured and its Markdown table. Pure functions; any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "metrics_latency.h"

namespace baton::bench {

// One normalized statement as pg_stat_statements reports it, and how often it ran.
struct StatementCount {
  int64_t calls = 0;
  std::string query;
  double exec_ms = 0;  // Total execution time of those calls.
};

struct Measurement {
  int instances = 0;
  std::chrono::nanoseconds heartbeat{};    // The configured interval.
  std::chrono::nanoseconds window{};       // From the reset to the read, as measured.
  std::vector<StatementCount> statements;  // Every statement of baton's role in the window.
  std::optional<int64_t> renewals;  // Lease renewals in the window; unset if it changed hands.
  int sessions = 0;                 // baton's connections to the database.
  // The instances' own heartbeat round trips (--latency); unset when not measured.
  std::optional<HeartbeatLatency> latency;
};

struct StatementsContext {
  std::string ttl_text;
  std::chrono::nanoseconds heartbeat{};
  double load_start = 0;
  double load_end = 0;
  long cpus = 0;
};

// Whether a statement is the heartbeat call (SPEC 2.2: one statement per heartbeat).
bool IsHeartbeat(const StatementCount& statement);

// The table (one row per group size), any statement other than the heartbeat, and how it was
// measured.
std::string FormatStatementsReport(const StatementsContext& context,
                                   const std::vector<Measurement>& results);

}  // namespace baton::bench
