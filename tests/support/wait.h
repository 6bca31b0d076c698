#pragma once

// Waiting on conditions in real time, and small file helpers for tests.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace baton::test_support {

using std::chrono::milliseconds;

// Polls `condition` until it holds or `timeout` of real (CLOCK_MONOTONIC) time has passed.
// Returns whether it held. The condition is checked once more at the end, so a slow poll
// cannot turn a success into a failure.
bool WaitFor(const std::function<bool()>& condition, milliseconds timeout,
             milliseconds poll = milliseconds(20));

// Polls `condition` for `duration`; false as soon as it does not hold. For "nothing else
// happens" checks, where no event exists to wait for.
bool HoldsFor(const std::function<bool()>& condition, milliseconds duration,
              milliseconds poll = milliseconds(20));

// CLOCK_MONOTONIC in nanoseconds: steady_clock on Linux, and the clock of the probe's mono_ns.
int64_t MonoNowNs();

// The file's lines without their '\n'; empty when it does not exist.
std::vector<std::string> ReadLines(const std::string& path);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);

}  // namespace baton::test_support
