#pragma once

// Small formatting helpers shared by the commands that print what the store holds.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

#include "baton/clock.h"

namespace baton::cli {

inline int64_t Ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// "2026-12-01T23:10:38Z": a wall-clock time for people and JSON, in UTC.
inline std::string Iso(std::chrono::system_clock::time_point tp) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace baton::cli
