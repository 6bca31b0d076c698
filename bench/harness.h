#pragma once

// What the benchmark programs share: the options they pass on to `baton run`, their option
// checks, the stop flag set by SIGINT/SIGTERM, and their scratch directory.
//
// Thread safety: one thread (the stop flag is the only state, set from a signal handler).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace baton::bench {

// The options that shape each `baton run` instance a benchmark starts.
struct RunOptions {
  std::string baton;       // The baton program.
  std::string ttl = "1s";  // Passed as --ttl, as written.
  std::string heartbeat;   // Empty: baton's default, ttl/5.
  bool keep = false;       // Keep the instance logs even when nothing broke.

  // Valid only after ParseOrExit() accepted the command line.
  std::chrono::nanoseconds Ttl() const;
  std::chrono::nanoseconds Heartbeat() const;
  // --heartbeat for `baton run` when one was given.
  std::vector<std::string> ExtraRunArgs() const;
};

// A CLI11 check for durations like 500ms, 1s, 1.5s, 2m (see duration.h).
CLI::Validator DurationText();

// A CLI11 check for whole numbers of at least `minimum`; `why` ends the message when given.
CLI::Validator AtLeast(int minimum, const std::string& why = "");

// Adds --baton (required, executable), --ttl, --heartbeat and --keep to `app`.
void AddRunOptions(CLI::App& app, RunOptions& options);

// Parses the command line; --help prints and exits 0, bad input prints the problem and exits 2.
void ParseOrExit(CLI::App& app, int argc, char** argv);

// Makes the stop flag follow SIGINT and SIGTERM.
void StopOnSignals();
// Makes this process a child subreaper (see cluster.h), then StopOnSignals(). False, having
// said why on stderr, when the kernel refuses.
bool Supervise();
// Whether SIGINT or SIGTERM arrived since StopOnSignals() (or Supervise()).
bool Interrupted();
// Sleeps `how_long` unless interrupted first; false when interrupted.
bool Sleep(std::chrono::nanoseconds how_long);

// This program's own path: the benchmarks run themselves as the child under `baton run`.
std::string SelfExe();
// The 1-minute load average, reported beside the numbers it may explain.
double LoadAverage();

// A new directory /tmp/<prefix>-XXXXXX; nullopt, having said why on stderr, on failure.
std::optional<std::string> MakeScratchDir(const std::string& prefix);
// Keeps `dir` and says where when `keep`; removes it otherwise.
void KeepOrRemove(const std::string& dir, bool keep);

}  // namespace baton::bench
