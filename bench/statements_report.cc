#include "statements_report.h"

#include <cmath>
#include <cstdio>

namespace baton::bench {
namespace {

std::string Fixed(double value, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

double Seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

std::string Row(const Measurement& m) {
  int64_t all = 0;
  int64_t heartbeats = 0;
  double heartbeat_exec_ms = 0;
  for (const auto& s : m.statements) {
    all += s.calls;
    if (IsHeartbeat(s)) {
      heartbeats += s.calls;
      heartbeat_exec_ms += s.exec_ms;
    }
  }
  const auto bound = [](double ms) {
    return std::isinf(ms) ? std::string("> 5000") : "≤ " + Fixed(ms, ms < 1 ? 1 : 0);
  };
  const double window_s = Seconds(m.window);
  const double expected_rate = 1.0 / Seconds(m.heartbeat);
  const double seen_rate = static_cast<double>(heartbeats) / m.instances / window_s;
  const double per_heartbeat =
      heartbeats > 0 ? static_cast<double>(all) / static_cast<double>(heartbeats) : 0;
  // A ratio of exactly 1 means every statement was a heartbeat; the window's edges cannot
  // make it look better or worse than that.
  const bool met = heartbeats > 0 && all == heartbeats;
  return "| " + std::to_string(m.instances) + " | " + Fixed(window_s, 1) + " | " +
         Fixed(expected_rate) + " | " + Fixed(seen_rate) + " | " +
         (m.renewals ? Fixed(static_cast<double>(*m.renewals) / window_s) : std::string("—")) +
         " | " + std::to_string(all) + " | " + std::to_string(heartbeats) + " | " +
         std::to_string(all - heartbeats) + " | " +
         (heartbeats > 0 ? Fixed(per_heartbeat) : std::string("—")) + " | " +
         (met ? "1: met" : "1: **missed**") + " | " + std::to_string(m.sessions) + " | " +
         (heartbeats > 0 ? Fixed(heartbeat_exec_ms / static_cast<double>(heartbeats), 3)
                         : std::string("—")) +
         " | " + (m.latency ? bound(m.latency->p50_ms) : std::string("—")) + " | " +
         (m.latency ? bound(m.latency->p99_ms) : std::string("—")) + " | " +
         (m.latency ? bound(m.latency->max_ms) : std::string("—")) + " |";
}

std::string OneLine(const std::string& query) {
  std::string out;
  for (char c : query) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (c == '|') {
      out += "\\|";
      continue;
    }
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out.size() > 160 ? out.substr(0, 157) + "..." : out;
}

}  // namespace

bool IsHeartbeat(const StatementCount& statement) {
  return statement.query.find(".heartbeat(") != std::string::npos;
}

std::string FormatStatementsReport(const StatementsContext& context,
                                   const std::vector<Measurement>& results) {
  std::string out =
      "| instances | window s | heartbeats/s per instance (configured) | heartbeats/s per "
      "instance (seen) | lease renewals/s (active) | statements | heartbeat calls | other "
      "statements | statements per instance per heartbeat | must | baton sessions | server exec "
      "ms/hb | heartbeat p50 ms | p99 ms | max ms |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n";
  for (const Measurement& m : results) out += Row(m) + "\n";
  std::string others;
  for (const Measurement& m : results) {
    for (const auto& s : m.statements) {
      if (IsHeartbeat(s)) continue;
      others += "- " + std::to_string(m.instances) + " instances: " + std::to_string(s.calls) +
                " × `" + OneLine(s.query) + "`\n";
    }
  }
  if (!others.empty()) out += "\nStatements other than the heartbeat:\n" + others;
  out += "\nMeasured by `baton-pg-statements-bench`: N `baton run` instances of one group (ttl " +
         context.ttl_text + ", heartbeat " + Fixed(Seconds(context.heartbeat) * 1000, 0) +
         " ms) on PostgreSQL 15, each running a child that waits for SIGTERM. "
         "Once every instance is registered and one is active, and a few heartbeats more, "
         "`pg_stat_statements_reset()` clears the counters; after the window the benchmark "
         "reads `pg_stat_statements` (track = top, utility statements included) for baton's "
         "role and database — its own statements run as another role and are left out. "
         "Heartbeat calls are the calls of baton's heartbeat function; statements per instance "
         "per heartbeat = all of baton's statements / heartbeat calls. Lease renewals/s is the "
         "lease row's renewal count over the window, an independent count of the active's "
         "heartbeats. Server exec: pg_stat_statements' execution time of the heartbeat calls per "
         "call. Heartbeat p50/p99/max (with --latency): each instance's own "
         "baton_heartbeat_duration_seconds histogram (from sending the call to its reply), "
         "scraped from every instance at the window's start and end and summed; the figure is "
         "the histogram bucket's upper bound the percentile lies under. Load average " +
         Fixed(context.load_start) + " at the start and " + Fixed(context.load_end) +
         " at the end, on " + std::to_string(context.cpus) + " CPUs.\n";
  return out;
}

}  // namespace baton::bench
