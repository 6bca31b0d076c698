#include "scale_report.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "baton/timing.h"
#include "report.h"

namespace baton::bench {
namespace {

// What the server's window says per heartbeat and per instance; -1 where it was not measured.
struct Derived {
  double window_s = 0;
  double exec_ms = -1;
  double cpu_ms = -1;
  double statements_per_s = -1;
  double statements_per_heartbeat = -1;
  double connections = -1;
};

Derived Derive(const ScalePoint& point) {
  Derived d;
  d.window_s = static_cast<double>(point.window.count()) / 1e9;
  const auto& server = point.server;
  if (!server) return d;
  const int total = point.groups * point.per_group;
  if (server->heartbeats > 0) {
    const auto heartbeats = static_cast<double>(server->heartbeats);
    d.exec_ms = server->heartbeat_exec_ms / heartbeats;
    if (server->server_cpu_ms >= 0) d.cpu_ms = server->server_cpu_ms / heartbeats;
    d.statements_per_heartbeat = static_cast<double>(server->statements) / heartbeats;
  }
  if (server->seconds > 0) {
    d.statements_per_s = static_cast<double>(server->statements) / server->seconds;
  }
  // The observer's connection is the benchmark's, not an instance's.
  d.connections = static_cast<double>(server->baton_connections - 1) / total;
  return d;
}

}  // namespace

std::string FormatScaleReport(const ScalePoint& point) {
  const Derived d = Derive(point);
  const std::vector<double>& samples = point.samples_ms;
  const int total = point.groups * point.per_group;
  char row[1024];
  std::snprintf(
      row, sizeof row,
      "| %d × %d | %s | %.0f | %d | %.1f | %.1f | %.1f | %.3f | %.3f | %.0f | %.2f | %.2f | %.0f "
      "| %d of %d | %.2f → %.2f |\n",
      point.groups, point.per_group, point.ttl_text.c_str(),
      static_cast<double>(samples.size()) / d.window_s, point.failed, Percentile(samples, 50),
      Percentile(samples, 99), Percentile(samples, 100), d.exec_ms, d.cpu_ms, d.statements_per_s,
      d.statements_per_heartbeat, d.connections, point.crash_failover_ms, point.active_groups,
      point.groups, point.load_start, point.load_end);
  char how[2048];
  std::snprintf(
      how, sizeof how,
      "\nMeasured by `baton-pg-scale-bench`: %d Electors (the state machine of `baton run`) as "
      "threads of one process, each with a PostgreSQL store of its own, %d group(s) of %d, "
      "heartbeat %s, started over one heartbeat. Once every member row was in the store and 3 "
      "heartbeats more had passed, every heartbeat call of a %s window was timed on "
      "CLOCK_MONOTONIC from sending the statement to having the reply; p99 is nearest-rank. "
      "Server exec: pg_stat_statements' execution time of the heartbeat function per call; "
      "server CPU: utime + stime of every server process (/proc) over the window per heartbeat; "
      "-1: not measured. Crash failover: from the moment one group's active instance stopped "
      "reaching the store to another one's becoming active. Load average at the start and at "
      "the end, on %ld CPUs.\n",
      total, point.groups, point.per_group, FormatDuration(point.heartbeat).c_str(),
      point.window_text.c_str(), point.cpus);
  return std::string(
             "| groups × instances | ttl | heartbeats/s | failed | p50 ms | p99 ms | max ms | "
             "server exec ms/hb | server CPU ms/hb | statements/s | statements/hb | "
             "connections/instance | crash failover ms | active groups | load before → after "
             "|\n"
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n") +
         row + how;
}

std::string ScaleJsonLine(const ScalePoint& point) {
  const Derived d = Derive(point);
  const std::vector<double>& samples = point.samples_ms;
  const nlohmann::json row = {{"kind", "scale"},
                              {"groups", point.groups},
                              {"per_group", point.per_group},
                              {"instances", point.groups * point.per_group},
                              {"ttl", point.ttl_text},
                              {"window_s", d.window_s},
                              {"heartbeats", samples.size()},
                              {"failed", point.failed},
                              {"p50_ms", Percentile(samples, 50)},
                              {"p99_ms", Percentile(samples, 99)},
                              {"max_ms", Percentile(samples, 100)},
                              {"server_exec_ms_per_heartbeat", d.exec_ms},
                              {"server_cpu_ms_per_heartbeat", d.cpu_ms},
                              {"statements_per_s", d.statements_per_s},
                              {"statements_per_heartbeat", d.statements_per_heartbeat},
                              {"connections_per_instance", d.connections},
                              {"crash_failover_ms", point.crash_failover_ms},
                              {"load_start", point.load_start},
                              {"load_end", point.load_end}};
  return row.dump();
}

}  // namespace baton::bench
