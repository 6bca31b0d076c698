#include "duration.h"

#include <cstdint>
#include <cstdlib>

namespace baton::bench {

std::optional<std::chrono::nanoseconds> ParseDuration(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !(value > 0)) return std::nullopt;
  const std::string unit = end;
  double scale = 0;
  if (unit == "ms") scale = 1e6;
  if (unit == "s") scale = 1e9;
  if (unit == "m") scale = 60e9;
  if (scale == 0) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<int64_t>(value * scale));
}

}  // namespace baton::bench
