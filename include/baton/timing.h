#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton {

// The four durations that decide safety and speed. See README "How it works" for why
// 2 × heartbeat + margin + grace must fit in the ttl.
struct Timing {
  Duration ttl;        // How long a lease (and a member row) lives without renewal.
  Duration heartbeat;  // How often an instance renews and competes.
  Duration margin;     // The holder stops this long before the store could free its lease.
  Duration grace;      // Time between SIGTERM and SIGKILL for a child losing its lease.
};

struct TimingOptions {
  Duration ttl = std::chrono::seconds(10);
  std::optional<Duration> heartbeat;  // Default: ttl / 5.
  std::optional<Duration> margin;     // Default: max(ttl / 10, 100ms).
  std::optional<Duration> grace;      // Default: ttl / 5.
};

// How a validation error names an option. The library names each by its field ("ttl",
// "max_attempts"); a program passes the names its users know, as the command line does
// ("--ttl", "--max-attempts").
using OptionNames = std::function<std::string(std::string_view field)>;
// Names each option by its field, unchanged.
const OptionNames& FieldNames();

// Fills in defaults and checks the rules; kInvalidArgument with a message naming the options
// (by `names`) on failure.
Result<Timing> ResolveTiming(const TimingOptions& options, const OptionNames& names = FieldNames());

// Parses "500ms", "10s", "1.5s", "2m", "1h". A bare number or another unit is refused.
Result<Duration> ParseDuration(const std::string& text);
// Formats for people: "1.5s", "200ms".
std::string FormatDuration(Duration d);

}  // namespace baton
