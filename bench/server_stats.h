#pragma once

// What the PostgreSQL server spent over a benchmark's window, from its own statistics and
// from the kernel: pg_stat_statements' calls and execution time of the heartbeat and of every
// statement baton made, the CPU time of every server process (/proc, so work outside any
// statement counts too: commits, NOTIFY delivery, connections), and baton's connections.
//
// Needs a superuser session (`--stats` URL) on the database baton uses, with
// pg_stat_statements loaded and created there; statements of that session's role are not
// counted. The server must run on this machine for the CPU time (its data directory's
// postmaster.pid names the postmaster).
//
// Thread safety: one thread only.

#include <optional>
#include <string>

#include "pg_session.h"

namespace baton::bench {

struct ServerWindow {
  double seconds = 0;            // The window's length on CLOCK_MONOTONIC.
  long long heartbeats = 0;      // Calls of the heartbeat function.
  double heartbeat_exec_ms = 0;  // Their total execution time (pg_stat_statements).
  long long statements = 0;      // Every statement baton's role made.
  double server_cpu_ms = -1;     // utime + stime of the postmaster and its children; -1: unknown.
  int baton_connections = 0;     // Backends with application_name 'baton' at the end.
};

class ServerStats final {
 public:
  // Connects and checks that pg_stat_statements can be read and reset.
  static std::optional<ServerStats> Connect(const std::string& url, std::string& error);

  // Starts a window: resets pg_stat_statements and samples the server's CPU time.
  bool Begin(std::string& error);
  // Ends it.
  std::optional<ServerWindow> End(std::string& error);

 private:
  explicit ServerStats(PgSession session) : session_(std::move(session)) {}
  // CPU milliseconds of the postmaster and its children now; nullopt when unknown.
  std::optional<double> ServerCpuMs();

  PgSession session_;
  int postmaster_ = 0;  // 0: not found, CPU time unknown.
  double cpu_start_ms_ = 0;
  double started_ = 0;  // CLOCK_MONOTONIC seconds.
};

}  // namespace baton::bench
