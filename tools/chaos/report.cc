// The checker's output: the report a person reads and the totals line a script greps.

#include <cstdio>
#include <sstream>

#include "checker.h"

namespace baton::chaos {
namespace {

// A failing run under --unsafe-ignore-deadline can find thousands; the first ones tell.
constexpr size_t kMaxListed = 50;

std::string Format(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string Seconds(int64_t ns) { return Format("%.1fs", static_cast<double>(ns) / 1e9); }
std::string Ms(int64_t ns) { return Format("%.0fms", static_cast<double>(ns) / 1e6); }
std::string Percent(double share) { return Format("%.1f%%", share * 100); }
// From the run's start, as the violations give their times.
std::string At(const CheckResult& result, int64_t mono_ns) {
  return Format("%+.1fms", static_cast<double>(mono_ns - result.run.mono_ns) / 1e6);
}

std::string FaultKinds(const CheckResult& result) {
  std::string kinds;
  for (const auto& [kind, count] : result.faults_by_kind) {
    kinds += (kinds.empty() ? "" : " ") + kind + "=" + std::to_string(count);
  }
  return kinds;
}

void PrintViolations(const CheckResult& result, std::ostream& out) {
  if (result.violations.empty()) {
    out << "violations: none\n";
    return;
  }
  out << "violations: " << result.violations.size() << "\n";
  for (size_t i = 0; i < result.violations.size() && i < kMaxListed; ++i) {
    const Violation& violation = result.violations[i];
    out << "  [" << violation.check << "] " << violation.message << "\n";
  }
  if (result.violations.size() > kMaxListed) {
    out << "  ... and " << result.violations.size() - kMaxListed << " more\n";
  }
}

void PrintQueueReport(const CheckResult& result, std::ostream& out) {
  const RunLine& run = result.run;
  const QueueAccount& account = *result.account;
  out << "chaos record " << result.dir << ": queue mode, store=" << run.store
      << " seed=" << run.seed << " workers=" << run.instances << " visibility=" << run.ttl_ms
      << "ms, " << Seconds(result.end_ns - run.mono_ns)
      << (result.end_seen ? "" : " (no end line: up to the last event)") << "\n";
  out << "faults: " << result.faults;
  if (result.faults > 0) out << " (" << FaultKinds(result) << ")";
  out << "\n";
  out << "items: " << account.items << " enqueued (" << account.failed_enqueues
      << " enqueues failed, outcome unknown), " << account.acknowledged << " acknowledged, "
      << account.dead << " dead (" << account.dead_poison << " told never to succeed), "
      << account.expired << " expired, " << account.in_queue << " still in the queue, "
      << account.lost << " lost; " << account.unknown << " items no enqueue printed\n";
  out << "attempts: " << account.attempts << " started, " << account.done_lines
      << " ran to their done line\n";
  if (!account.dead_could_succeed.empty()) {
    out << "dead although their work could succeed (attempts used up by faults):";
    for (size_t i = 0; i < account.dead_could_succeed.size() && i < kMaxListed; ++i) {
      out << " " << account.dead_could_succeed[i];
    }
    out << "\n";
  }
  PrintViolations(result, out);
}

}  // namespace

void PrintReport(const CheckResult& result, std::ostream& out) {
  if (!result.readable()) {
    out << "chaos record " << result.dir << " is unreadable: " << result.error << "\n";
    return;
  }
  if (result.account) {
    PrintQueueReport(result, out);
    return;
  }
  const RunLine& run = result.run;
  out << "chaos record " << result.dir << ": store=" << run.store << " seed=" << run.seed
      << " instances=" << run.instances << " ttl=" << run.ttl_ms << "ms, "
      << Seconds(result.end_ns - run.mono_ns)
      << (result.end_seen ? "" : " (no end line: up to the last event)") << "\n";
  out << "faults: " << result.faults;
  if (result.faults > 0) out << " (" << FaultKinds(result) << ")";
  out << "\n";

  int exact = 0;
  int from_start = 0;
  for (const Interval& interval : result.intervals) {
    if (interval.end_exact) ++exact;
    if (!interval.end_exact && interval.end_kind == ProbeKind::kStart) ++from_start;
  }
  const int inferred = static_cast<int>(result.intervals.size()) - exact - from_start;
  out << "active intervals: " << result.intervals.size() << " (" << exact
      << " ended by a stop or exit line, " << inferred << " by their last alive line, "
      << from_start << " with only a start line), leadership changes: " << result.leadership_changes
      << "\n";
  if (!result.intervals.empty()) {
    out << "availability: " << Percent(result.availability) << " of "
        << Seconds(result.end_ns - result.intervals.front().start_ns) << " from the first start\n";
  }
  if (result.failovers) {
    const Failovers& gaps = *result.failovers;
    out << "failover gaps: " << gaps.count << ", p50 " << Ms(gaps.p50_ns) << ", p99 "
        << Ms(gaps.p99_ns) << ", max " << Ms(gaps.max_ns) << "\n";
  }
  PrintViolations(result, out);
}

void PrintIntervals(const CheckResult& result, std::ostream& out) {
  if (result.account) {
    out << "item commands (from the run's start):\n";
    for (const ItemInterval& interval : result.item_intervals) {
      out << "  " << At(result, interval.start_ns) << " .. " << At(result, interval.end_ns) << " "
          << interval.end_kind << (interval.terminated ? " (term)" : "") << ": item "
          << interval.item << " tenant " << interval.tenant << " attempt " << interval.attempt
          << " claim token " << interval.token << " pid " << interval.pid << "\n";
    }
    return;
  }
  out << "intervals (from the run's start), each with the failover gap before it:\n";
  const Interval* previous = nullptr;
  for (const Interval& interval : result.intervals) {
    out << "  " << At(result, interval.start_ns) << " .. " << At(result, interval.end_ns)
        << (interval.end_exact ? " " : " at least, ") << Name(interval.end_kind) << ": instance "
        << interval.instance << " token " << interval.token << " pid " << interval.pid;
    if (previous != nullptr) out << ", gap " << Ms(interval.start_ns - previous->end_ns);
    out << "\n";
    previous = &interval;
  }
}

std::string TotalsLine(const CheckResult& result) {
  if (!result.readable()) return "totals: unreadable record " + result.dir + ": FAIL";
  std::ostringstream line;
  if (result.account) {
    const QueueAccount& account = *result.account;
    line << "totals: mode=queue store=" << result.run.store << " seed=" << result.run.seed
         << " duration=" << Seconds(result.end_ns - result.run.mono_ns)
         << " workers=" << result.run.instances << " items=" << account.items
         << " acknowledged=" << account.acknowledged << " dead=" << account.dead
         << " (poison=" << account.dead_poison << ") expired=" << account.expired
         << " attempts=" << account.attempts << " failed-enqueues=" << account.failed_enqueues
         << " faults=" << result.faults;
    if (result.faults > 0) line << " (" << FaultKinds(result) << ")";
    for (const auto& [check, count] : result.counts) line << " " << check << "=" << count;
    line << ": " << (result.passed() ? "PASS" : "FAIL");
    return line.str();
  }
  line << "totals: store=" << result.run.store << " seed=" << result.run.seed
       << " duration=" << Seconds(result.end_ns - result.run.mono_ns)
       << " instances=" << result.run.instances << " faults=" << result.faults;
  if (result.faults > 0) line << " (" << FaultKinds(result) << ")";
  line << " leadership-changes=" << result.leadership_changes;
  for (const auto& [check, count] : result.counts) line << " " << check << "=" << count;
  line << " availability=" << Percent(result.availability);
  for (const auto& [name, ns] :
       {std::pair{"p50", &Failovers::p50_ns}, std::pair{"p99", &Failovers::p99_ns},
        std::pair{"max", &Failovers::max_ns}}) {
    line << " failover-" << name << "=" << (result.failovers ? Ms((*result.failovers).*ns) : "-");
  }
  line << ": " << (result.passed() ? "PASS" : "FAIL");
  return line.str();
}

}  // namespace baton::chaos
