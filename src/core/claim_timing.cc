#include <algorithm>
#include <random>

#include "baton/timing.h"
#include "baton/worker.h"

namespace baton {
namespace {

using std::chrono::milliseconds;

constexpr Duration kMinVisibility = milliseconds(500);
constexpr Duration kMinMargin = milliseconds(100);

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Result<ClaimTiming> ResolveClaimTiming(const ClaimTimingOptions& options,
                                       const OptionNames& names) {
  ClaimTiming t{};
  t.visibility = options.visibility;
  if (t.visibility < kMinVisibility) {
    return Invalid(names("visibility") + " " + FormatDuration(t.visibility) +
                   " is too short: the minimum is " + FormatDuration(kMinVisibility));
  }
  t.margin = options.margin.value_or(std::max<Duration>(t.visibility / 10, kMinMargin));
  t.grace = options.grace.value_or(t.visibility / 5);
  if (t.margin <= Duration::zero()) return Invalid(names("margin") + " must be positive");
  if (t.grace <= Duration::zero()) return Invalid(names("grace") + " must be positive");
  // Extensions go every visibility/3: two must fit before the work is told to stop, so one
  // failed extension never costs the claim.
  if (2 * (t.visibility / 3) + t.margin + t.grace > t.visibility) {
    return Invalid(names("visibility") + " " + FormatDuration(t.visibility) +
                   " is too short for margin " + FormatDuration(t.margin) + " and " +
                   names("grace") + " " + FormatDuration(t.grace) +
                   " (needs 2 × visibility/3 + margin + grace ≤ visibility)");
  }
  return t;
}

Duration RetryBackoff(int attempt, Duration base, Duration max) {
  const int doublings = std::clamp(attempt - 1, 0, 40);
  Duration wait = base;
  for (int i = 0; i < doublings && wait < max; ++i) wait *= 2;
  wait = std::min(wait, max);
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.5, 1.0);
  return Duration(static_cast<Duration::rep>(static_cast<double>(wait.count()) * factor(random)));
}

const char* ToString(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kWorkerStopping:
      return "the worker is stopping";
    case StopReason::kTimeout:
      return "the attempt ran past its timeout";
    case StopReason::kClaimLost:
      return "the claim was lost";
    case StopReason::kDeadline:
      return "no extension of the claim succeeded in time";
  }
  return "unknown";
}

}  // namespace baton
