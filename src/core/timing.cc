#include "baton/timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

namespace baton {
namespace {

using std::chrono::milliseconds;

constexpr Duration kMinTtl = milliseconds(500);
constexpr Duration kMinMargin = milliseconds(100);
// Below this a heartbeat is a busy loop of durable store writes, and no failover gets faster
// for it: takeover waits for the ttl, not for the heartbeat.
constexpr Duration kMinHeartbeat = milliseconds(50);

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Result<Duration> ParseDuration(const std::string& text) {
  static const std::regex kPattern(R"(^([0-9]+(\.[0-9]+)?)(ms|s|m|h)$)");
  std::smatch match;
  if (!text.empty() && text[0] == '-') {
    return Invalid("\"" + text + "\" must be a positive duration");
  }
  if (!std::regex_match(text, match, kPattern)) {
    return Invalid("\"" + text +
                   "\" is not a duration: give a number and a unit, ms, s, m or h "
                   "(500ms, 10s, 1.5s)");
  }
  const long double number = std::stold(match[1].str());
  const std::string unit = match[3].str();
  const long double ns_per_unit = unit == "ms"  ? 1e6L
                                  : unit == "s" ? 1e9L
                                  : unit == "m" ? 6e10L
                                                : 3.6e12L;
  const long double ns = number * ns_per_unit;
  if (ns > 1e18L) return Invalid("\"" + text + "\" is too long a duration");
  return Duration(static_cast<Duration::rep>(std::llround(ns)));
}

std::string FormatDuration(Duration d) {
  using namespace std::chrono;
  const auto ns = d.count();
  if (ns != 0 && ns % duration_cast<nanoseconds>(hours(1)).count() == 0) {
    return std::to_string(duration_cast<hours>(d).count()) + "h";
  }
  if (ns != 0 && ns % duration_cast<nanoseconds>(minutes(1)).count() == 0) {
    return std::to_string(duration_cast<minutes>(d).count()) + "m";
  }
  if (ns % 1'000'000 == 0 && std::llabs(ns) < 1'000'000'000) {
    return std::to_string(ns / 1'000'000) + "ms";
  }
  char buf[64];
  if (std::llabs(ns) >= 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns) / 1e9);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s + "s";
  }
  std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  return buf;
}

const OptionNames& FieldNames() {
  static const OptionNames kFieldNames = [](std::string_view field) { return std::string(field); };
  return kFieldNames;
}

Result<Timing> ResolveTiming(const TimingOptions& options, const OptionNames& names) {
  const auto check_positive = [&names](std::string_view field, Duration d) -> Result<void> {
    if (d <= Duration::zero()) {
      return Invalid(names(field) + " must be positive (got " + FormatDuration(d) + ")");
    }
    return Ok();
  };
  Timing t{};
  t.ttl = options.ttl;
  if (auto r = check_positive("ttl", t.ttl); !r) return r.error();
  if (t.ttl < kMinTtl) {
    return Invalid(names("ttl") + " " + FormatDuration(t.ttl) + " is too short: the minimum is " +
                   FormatDuration(kMinTtl));
  }
  t.heartbeat = options.heartbeat.value_or(t.ttl / 5);
  t.grace = options.grace.value_or(t.ttl / 5);
  t.margin = options.margin.value_or(std::max<Duration>(t.ttl / 10, kMinMargin));
  if (auto r = check_positive("heartbeat", t.heartbeat); !r) return r.error();
  if (auto r = check_positive("grace", t.grace); !r) return r.error();
  if (auto r = check_positive("margin", t.margin); !r) return r.error();
  if (t.heartbeat < kMinHeartbeat) {
    return Invalid(names("heartbeat") + " " + FormatDuration(t.heartbeat) +
                   " is too short: the minimum is " + FormatDuration(kMinHeartbeat) +
                   " (the default is ttl/5)");
  }
  // Two heartbeats must fit before the watchdog fires, so one failed renewal never costs
  // the lease; the margin absorbs clock-rate differences; the grace lets the child stop
  // cleanly before the deadline.
  if (2 * t.heartbeat + t.margin + t.grace > t.ttl) {
    return Invalid(names("ttl") + " " + FormatDuration(t.ttl) + " is too short for " +
                   names("heartbeat") + " " + FormatDuration(t.heartbeat) + ", margin " +
                   FormatDuration(t.margin) + " and " + names("grace") + " " +
                   FormatDuration(t.grace) + " (needs 2 × heartbeat + margin + grace ≤ ttl)");
  }
  return t;
}

}  // namespace baton
