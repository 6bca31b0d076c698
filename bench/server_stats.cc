#include "server_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace baton::bench {
namespace {

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The process's parent and its utime + stime in clock ticks, from /proc/PID/stat.
bool ReadStat(int pid, int& parent, long long& ticks) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  // The command name is in parentheses and may hold spaces: fields count from its end.
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  long long value = 0;
  fields >> state >> parent;
  // Fields 5 to 13 (pgrp .. cmajflt), then utime (14) and stime (15).
  for (int i = 0; i < 9; ++i) fields >> value;
  long long utime = 0;
  long long stime = 0;
  fields >> utime >> stime;
  ticks = utime + stime;
  return static_cast<bool>(fields);
}

}  // namespace

std::optional<ServerStats> ServerStats::Connect(const std::string& url, std::string& error) {
  std::optional<PgSession> session = PgSession::Connect(url, error);
  if (!session) return std::nullopt;
  ServerStats stats(std::move(*session));
  if (!stats.session_.Query("SELECT 1 FROM pg_stat_statements LIMIT 1", {}, error)) {
    error = "pg_stat_statements cannot be read: " + error;
    return std::nullopt;
  }
  std::optional<PgRows> dir = stats.session_.Query("SHOW data_directory", {}, error);
  if (dir && !dir->empty()) {
    std::ifstream pid_file((*dir)[0][0] + "/postmaster.pid");
    pid_file >> stats.postmaster_;
  }
  return stats;
}

std::optional<double> ServerStats::ServerCpuMs() {
  if (postmaster_ <= 0) return std::nullopt;
  long long total = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    int parent = 0;
    long long ticks = 0;
    if (ReadStat(pid, parent, ticks) && (pid == postmaster_ || parent == postmaster_)) {
      total += ticks;
    }
  }
  closedir(proc);
  return static_cast<double>(total) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

bool ServerStats::Begin(std::string& error) {
  if (!session_.Query("SELECT pg_stat_statements_reset()", {}, error)) return false;
  cpu_start_ms_ = ServerCpuMs().value_or(-1);
  started_ = MonotonicSeconds();
  return true;
}

std::optional<ServerWindow> ServerStats::End(std::string& error) {
  ServerWindow w;
  w.seconds = MonotonicSeconds() - started_;
  const std::optional<double> cpu = ServerCpuMs();
  if (cpu && cpu_start_ms_ >= 0) w.server_cpu_ms = *cpu - cpu_start_ms_;
  std::optional<PgRows> rows = session_.Query(
      "SELECT coalesce(sum(calls) FILTER (WHERE query LIKE '%.heartbeat(%'), 0), "
      "coalesce(sum(total_exec_time) FILTER (WHERE query LIKE '%.heartbeat(%'), 0), "
      "coalesce(sum(calls), 0) FROM pg_stat_statements "
      "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)",
      {}, error);
  if (!rows || rows->empty()) return std::nullopt;
  w.heartbeats = std::atoll((*rows)[0][0].c_str());
  w.heartbeat_exec_ms = std::atof((*rows)[0][1].c_str());
  w.statements = std::atoll((*rows)[0][2].c_str());
  std::optional<PgRows> connections = session_.Query(
      "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
      "AND application_name = 'baton'",
      {}, error);
  if (!connections || connections->empty()) return std::nullopt;
  w.baton_connections = std::atoi((*connections)[0][0].c_str());
  return w;
}

}  // namespace baton::bench
