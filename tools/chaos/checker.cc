#include "checker.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "queue_checks.h"

namespace baton::chaos {
namespace {

// What every check looks at.
struct Facts {
  const Record& record;
  const std::vector<Interval>& intervals;  // Ordered by start.
  const QueueFacts& queue;                 // Empty for a lease run.
};

// "+1234.5ms": times in messages count from the run's start, the scale on which a reader
// lines intervals up with faults.
std::string At(const Facts& facts, int64_t mono_ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1fms",
                static_cast<double>(mono_ns - facts.record.run.mono_ns) / 1e6);
  return text;
}

std::string Who(const Interval& interval) {
  return "instance " + interval.instance + " (token " + std::to_string(interval.token) + ", pid " +
         std::to_string(interval.pid) + ")";
}

std::string EndedAt(const Facts& facts, const Interval& interval) {
  return At(facts, interval.end_ns) + (interval.end_exact ? " (its " : " (its last ") +
         std::string(Name(interval.end_kind)) + " line)";
}

// A probe that found the flock taken: the kernel says two children ran at once.
std::vector<Violation> LockOverlaps(const Facts& facts) {
  std::vector<Violation> found;
  for (const ProbeLine& line : facts.record.probes) {
    if (line.kind != ProbeKind::kOverlap) continue;
    std::string holders;
    const Interval* latest_before = nullptr;  // Whose inferred end may be too early.
    for (const Interval& other : facts.intervals) {
      if (other.pid == line.pid || other.start_ns > line.mono_ns) continue;
      if (other.end_ns >= line.mono_ns) holders += (holders.empty() ? "" : ", ") + Who(other);
      latest_before = &other;
    }
    if (holders.empty() && latest_before != nullptr) {
      holders = Who(*latest_before) + ", last seen at " + EndedAt(facts, *latest_before);
    }
    const Interval self{.instance = line.instance, .token = line.token, .pid = line.pid};
    found.push_back({"", line.mono_ns,
                     Who(self) + " found the lock held at " + At(facts, line.mono_ns) +
                         ": two children active at once" +
                         (holders.empty() ? "" : "; held by " + holders)});
  }
  return found;
}

// Two intervals that overlap in time. Sound: starts are late and inferred ends early, so
// every overlap found here happened.
std::vector<Violation> TimeOverlaps(const Facts& facts) {
  std::vector<Violation> found;
  const std::vector<Interval>& intervals = facts.intervals;
  for (size_t later = 1; later < intervals.size(); ++later) {
    for (size_t earlier = 0; earlier < later; ++earlier) {
      const Interval& a = intervals[earlier];
      const Interval& b = intervals[later];
      if (b.start_ns >= a.end_ns) continue;
      found.push_back({"", b.start_ns,
                       Who(b) + " started at " + At(facts, b.start_ns) + " while " + Who(a) +
                           ", started at " + At(facts, a.start_ns) + ", was active until " +
                           EndedAt(facts, a)});
    }
  }
  return found;
}

// Every new interval is a new acquisition, so its token must be larger than the last one's.
std::vector<Violation> TokenOrder(const Facts& facts) {
  std::vector<Violation> found;
  const std::vector<Interval>& intervals = facts.intervals;
  for (size_t i = 1; i < intervals.size(); ++i) {
    const Interval& previous = intervals[i - 1];
    const Interval& next = intervals[i];
    if (next.token > previous.token) continue;
    found.push_back({"", next.start_ns,
                     Who(next) + " started at " + At(facts, next.start_ns) + " with token " +
                         std::to_string(next.token) + ", not above token " +
                         std::to_string(previous.token) + " of " + Who(previous) + " started at " +
                         At(facts, previous.start_ns)});
  }
  return found;
}

struct SafetyCheck {
  const char* name;  // Counts its violations in the totals line.
  const char* mode;  // The runs it judges: "lease" or "queue".
  std::vector<Violation> (*find)(const Facts&);
};

// Every property a chaos run must keep: SPEC 2's for a lease run, SPEC 3's for a queue run.
constexpr SafetyCheck kChecks[] = {
    {"lock-overlaps", "lease", LockOverlaps},
    {"overlaps", "lease", TimeOverlaps},
    {"token-errors", "lease", TokenOrder},
    {"lock-overlaps", "queue", [](const Facts& f) { return ItemLockOverlaps(f.queue); }},
    {"overlaps", "queue", [](const Facts& f) { return ItemTimeOverlaps(f.queue); }},
    {"token-errors", "queue", [](const Facts& f) { return ClaimTokenOrder(f.queue); }},
    {"undrained", "queue", [](const Facts& f) { return Undrained(f.queue); }},
    {"lost", "queue", [](const Facts& f) { return LostItems(f.queue); }},
    {"unfinished", "queue", [](const Facts& f) { return UnfinishedItems(f.queue); }},
    {"store-totals", "queue", [](const Facts& f) { return StoreTotals(f.queue); }},
    {"unknown-items", "queue", [](const Facts& f) { return UnknownItems(f.queue); }},
};

// Nearest rank: the smallest gap with at least `share` of the gaps at or below it.
int64_t Percentile(const std::vector<int64_t>& sorted, double share) {
  const auto rank = static_cast<size_t>(std::ceil(share * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// The share of [first start, end_ns] covered by the union of `intervals` (ordered by start).
double Availability(const std::vector<Interval>& intervals, int64_t end_ns) {
  if (intervals.empty() || end_ns <= intervals.front().start_ns) return 0;
  int64_t covered = 0;
  int64_t reached = intervals.front().start_ns;  // Covered up to here.
  for (const Interval& interval : intervals) {
    const int64_t from = std::max(interval.start_ns, reached);
    const int64_t to = std::min(interval.end_ns, end_ns);
    if (to > from) {
      covered += to - from;
      reached = to;
    }
  }
  return static_cast<double>(covered) / static_cast<double>(end_ns - intervals.front().start_ns);
}

std::optional<Failovers> FailoverGaps(const std::vector<Interval>& intervals) {
  if (intervals.size() < 2) return std::nullopt;
  std::vector<int64_t> gaps;
  for (size_t i = 1; i < intervals.size(); ++i) {
    gaps.push_back(std::max<int64_t>(0, intervals[i].start_ns - intervals[i - 1].end_ns));
  }
  std::sort(gaps.begin(), gaps.end());
  return Failovers{static_cast<int>(gaps.size()), Percentile(gaps, 0.5), Percentile(gaps, 0.99),
                   gaps.back()};
}

}  // namespace

std::vector<Interval> ActiveIntervals(const Record& record) {
  std::vector<Interval> intervals;
  std::unordered_map<pid_t, size_t> open;  // pid -> its interval without an end line yet.
  for (const ProbeLine& line : record.probes) {
    if (line.kind == ProbeKind::kStart) {
      // An open interval of this pid belonged to a killed child whose pid came round again.
      open[line.pid] = intervals.size();
      intervals.push_back({.instance = line.instance,
                           .token = line.token,
                           .pid = line.pid,
                           .start_ns = line.mono_ns,
                           .end_ns = line.mono_ns});
      continue;
    }
    const auto it = open.find(line.pid);
    if (it == open.end() || intervals[it->second].token != line.token) {
      throw RecordError(record.dir + "/probes.log: pid " + std::to_string(line.pid) + " (token " +
                        std::to_string(line.token) + ") wrote \"" + std::string(Name(line.kind)) +
                        "\" without a start line before it");
    }
    Interval& interval = intervals[it->second];
    // Any line proves the child was still running when it was written.
    if (line.mono_ns >= interval.end_ns) {
      interval.end_ns = line.mono_ns;
      interval.end_kind = line.kind;
    }
    if (line.kind == ProbeKind::kStop || line.kind == ProbeKind::kExit) {
      interval.end_exact = true;
      open.erase(it);
    }
  }
  std::sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.pid < b.pid;
  });
  return intervals;
}

CheckResult CheckRecord(const Record& record) {
  CheckResult result;
  result.dir = record.dir;
  result.run = record.run;
  result.end_seen = record.end_ns.has_value();
  result.end_ns = record.EndNs();
  result.faults = static_cast<int>(record.faults.size());
  for (const FaultLine& fault : record.faults) ++result.faults_by_kind[fault.kind];
  result.intervals = ActiveIntervals(record);
  const bool queue_run = record.run.mode == "queue";
  QueueFacts queue_facts;
  queue_facts.record = &record;
  if (queue_run) {
    queue_facts = JudgeQueue(record);
    result.item_intervals = queue_facts.intervals;
    result.account = queue_facts.account;
  }

  const Facts facts{record, result.intervals, queue_facts};
  for (const SafetyCheck& check : kChecks) {
    if (record.run.mode != check.mode) continue;
    std::vector<Violation> found = check.find(facts);
    result.counts.emplace_back(check.name, static_cast<int>(found.size()));
    for (Violation& violation : found) {
      violation.check = check.name;
      result.violations.push_back(std::move(violation));
    }
  }
  std::stable_sort(result.violations.begin(), result.violations.end(),
                   [](const Violation& a, const Violation& b) { return a.mono_ns < b.mono_ns; });

  // The shutdown after the end line hands the lease on too; it is no fault's doing.
  std::vector<Interval> in_run;
  for (const Interval& interval : result.intervals) {
    if (interval.start_ns <= result.end_ns) in_run.push_back(interval);
  }
  result.leadership_changes = std::max(0, static_cast<int>(in_run.size()) - 1);
  result.availability = Availability(in_run, result.end_ns);
  result.failovers = FailoverGaps(in_run);
  return result;
}

CheckResult CheckRecord(const std::string& dir) {
  try {
    return CheckRecord(ReadRecord(dir));
  } catch (const std::exception& error) {
    CheckResult result;
    result.dir = dir;
    result.error = error.what();
    return result;
  }
}

}  // namespace baton::chaos
