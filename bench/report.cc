#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

namespace baton::bench {
namespace {

double ToMs(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

std::string Fixed(double value, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

// SPEC 2, "Numbers it must reach": p99 limits, in ms, for this kind on this store.
struct Limits {
  std::optional<double> must;
  std::optional<double> goal;
};

Limits LimitsFor(Kind kind, const ReportContext& context) {
  if (context.system != "baton") return {std::nullopt, std::nullopt};  // SPEC 2 binds baton.
  if (kind == Kind::kCrashFailover) return {ToMs(context.ttl) + 100, ToMs(context.ttl) + 30};
  if (context.store_kind == "sqlite") return {100, 20};
  if (context.store_kind == "postgresql") return {50, 20};
  return {std::nullopt, std::nullopt};
}

std::string Verdict(std::optional<double> limit, double p99, const char* ttl_prefix,
                    double ttl_ms) {
  if (!limit) return "—";
  std::string bound = "≤ ";
  if (ttl_prefix != nullptr) {
    bound += std::string(ttl_prefix) + Fixed(*limit - ttl_ms, 0) + " ms";
  } else {
    bound += Fixed(*limit, 0) + " ms";
  }
  return bound + (p99 <= *limit ? ": met" : ": **missed**");
}

std::string Row(const Series& s, const ReportContext& context) {
  const bool crash = s.kind == Kind::kCrashFailover;
  const double ttl_ms = ToMs(context.ttl);
  const std::string wrapper = context.system == "baton" ? "baton" : "etcdctl lock";
  const std::string what = crash ? "crash failover (SIGKILL active " + wrapper + ")"
                                 : "graceful handover (SIGTERM active " + wrapper + ")";
  std::string trials = std::to_string(s.ms.size());
  if (static_cast<int>(s.ms.size()) != s.planned) trials += " of " + std::to_string(s.planned);
  if (s.not_handed_over > 0) trials += " (" + std::to_string(s.not_handed_over) + " no handover)";
  std::string row =
      "| " + what + " | " + context.store_kind + " | " + context.ttl_text + " | " + trials + " | ";
  const std::string overlaps = std::to_string(s.overlaps + s.outlived);
  if (s.ms.empty()) return row + "— | — | — | — | — | — | — | " + overlaps + " |";
  const double p50 = Percentile(s.ms, 50);
  const double p99 = Percentile(s.ms, 99);
  const double min = *std::min_element(s.ms.begin(), s.ms.end());
  const double max = *std::max_element(s.ms.begin(), s.ms.end());
  const Limits limits = LimitsFor(s.kind, context);
  const char* prefix = crash ? "ttl + " : nullptr;
  row += Fixed(min) + " | " + Fixed(p50) + " | " + Fixed(p99) + " | " + Fixed(max) + " | ";
  row += (crash ? Fixed(p99 - ttl_ms) : std::string("—")) + " | ";
  row += Verdict(limits.must, p99, prefix, ttl_ms) + " | " +
         Verdict(limits.goal, p99, prefix, ttl_ms) + " | ";
  return row + overlaps + " |";
}

}  // namespace

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

bool MeetsMust(const ReportContext& context, const Series& series) {
  const Limits limits = LimitsFor(series.kind, context);
  return !limits.must || series.ms.empty() || Percentile(series.ms, 99) <= *limits.must;
}

std::string FormatReport(const ReportContext& context, const std::vector<Series>& series) {
  std::string out =
      "| what | store | ttl | trials | min ms | p50 ms | p99 ms | max ms | p99 − ttl ms | "
      "must (p99) | goal (p99) | overlaps |\n"
      "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|\n";
  for (const Series& s : series) out += Row(s, context) + "\n";
  const std::string instances = context.system == "baton"
                                    ? " `baton run` instances of one group on "
                                    : " `etcdctl lock --ttl` wrappers of one lock on ";
  out += "\nMeasured by `baton-failover-bench`: " + std::to_string(context.instances) + instances +
         context.store_kind + " (ttl " + context.ttl_text + ", heartbeat " +
         Fixed(ToMs(context.heartbeat), 0) +
         " ms). Before each trial all instances are registered and one child runs; the "
         "benchmark then waits 2 heartbeats plus a random part of one, so the signal lands "
         "anywhere in the renewal cycle. Time runs from CLOCK_MONOTONIC read just before "
         "kill() of the active instance to the CLOCK_MONOTONIC stamp the next child takes first "
         "thing in main(); the child exits at once on SIGTERM. A new instance replaces the "
         "stopped one after each trial. p99 is nearest-rank (with fewer than 100 trials it is "
         "the maximum). Overlaps: children that started while another still held an exclusive "
         "flock (must be 0 for baton; for etcdctl lock they are the children that outlived their "
         "signalled wrapper, stopped by the benchmark after the next child started). Load "
         "average " +
         Fixed(context.load_start) + " at the start and " + Fixed(context.load_end) +
         " at the end, on " + std::to_string(context.cpus) + " CPUs.";
  if (context.system != "baton") {
    out +=
        " The heartbeat is etcd's client keep-alive, a third of the ttl. A SIGTERM after which "
        "no child started within 2 ttl + 1 s counts as no handover; the benchmark then stops "
        "the wrapper's child itself, the one way etcdctl lets go of a lock its command holds.";
  }
  return out + "\n";
}

}  // namespace baton::bench
