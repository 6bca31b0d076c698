#pragma once

// The benchmark's results and their Markdown table. Pure functions; any thread.

#include <chrono>
#include <string>
#include <vector>

namespace baton::bench {

enum class Kind { kCrashFailover, kGracefulHandover };

struct Series {
  Kind kind = Kind::kCrashFailover;
  std::vector<double> ms;  // One sample per completed trial.
  int planned = 0;         // Trials asked for.
  int overlaps = 0;        // Children that started while another still held the lock.
  int failures = 0;        // Trials with no takeover, or that broke otherwise.
  // etcdctl lock only (for baton either is a failure): trials whose next child started while
  // the signalled wrapper's child still ran, and SIGTERMs after which no child started within
  // 2 ttl + 1 s.
  int outlived = 0;
  int not_handed_over = 0;
};

struct ReportContext {
  std::string store_kind;  // "sqlite", "postgresql", "etcd".
  std::string ttl_text;    // As given: "1s".
  std::chrono::nanoseconds ttl{};
  std::chrono::nanoseconds heartbeat{};
  int instances = 0;
  // 1-minute load averages when the trials began and ended, and the CPUs online: the
  // numbers mean little on a machine busy with other work, so the table says how busy.
  double load_start = 0;
  double load_end = 0;
  long cpus = 0;
  std::string system = "baton";  // Or "etcdctl-lock": what wraps the child.
};

// Nearest-rank percentile (p in (0, 100]) of unsorted samples; 0 when there are none.
double Percentile(std::vector<double> samples, double p);

// Whether the series' p99 is within SPEC's "must" (true when the SPEC gives none here).
bool MeetsMust(const ReportContext& context, const Series& series);

// The table (a header and one row per series) followed by how it was measured.
std::string FormatReport(const ReportContext& context, const std::vector<Series>& series);

}  // namespace baton::bench
