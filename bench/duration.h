#pragma once

// Durations as the benchmarks' options give them. Pure; any thread.

#include <chrono>
#include <optional>
#include <string>

namespace baton::bench {

// "500ms", "1s", "1.5s", "2m": the forms baton itself accepts; nullopt for anything else or a
// duration that is not positive.
std::optional<std::chrono::nanoseconds> ParseDuration(const std::string& text);

}  // namespace baton::bench
