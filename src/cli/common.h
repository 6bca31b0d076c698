#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "baton/result.h"
#include "baton/timing.h"
#include "settings.h"
#include "store_url.h"

namespace baton::cli {

// Exit codes of SPEC 4.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoActive = 3;

// The options every subcommand takes.
struct Common {
  std::string store_url;
  std::string group;
  std::string id;  // Given or generated: <host>-<pid>-<random hex>.
  std::string log_format;
  StoreSettings store;  // --pg-schema, --etcd-*.
  std::string metrics;  // --metrics HOST:PORT; empty: no metrics served.
};

void AddCommonOptions(CLI::App* app, Settings& settings);
// --metrics, of the subcommands that keep running: `run`, `work`, `schedule`, `serve`.
void AddMetricsOption(CLI::App* app, Settings& settings);
// --ttl and --heartbeat of a lease's holder (`run`, `schedule`).
void AddLeaseTimingOptions(CLI::App* app, Settings& settings);
// The time budget of each call of a lease holder's store (OpenOptions::call_timeout): a call
// started a heartbeat after the last renewal has ttl − margin − heartbeat left before the
// deadline, of which it gets 4/5, from 400 ms to 5 s, so a dead network costs one heartbeat
// at most, never the lease. How a store keeps to it is its own business (PostgreSQL: the
// server's statement_timeout and libpq's connect and TCP bounds, connection.cc).
Duration LeaseCallTimeout(const Timing& timing);
// Names a library option by the flag that sets it ("max_attempts" → "--max-attempts"), so the
// library's validation errors speak the command line's language.
const OptionNames& FlagNames();
// Checks the common options; `need_group` for commands that act on one group.
Result<Common> ResolveCommon(const Settings& settings, bool need_group);

// The --queue of `work`, `enqueue` and `queue`: required, and a valid name.
Result<std::string> ResolveQueueName(const Settings& settings);

// Where `name` (a command's argv[0]) would be found by execvp with this process's PATH: the
// path itself when it has a '/', else the first executable file of that name in PATH.
// kInvalidArgument naming it when it is missing, not a file or not executable.
Result<std::string> FindExecutable(const std::string& name);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every thread it starts
// afterwards), for one thread to take them with sigwait, and ignores SIGPIPE. Returns the set.
sigset_t BlockStopSignals();

// Logs the retry and waits `delay`; true when a stop signal came meanwhile.
bool WaitBeforeRetry(const Error& error, int attempt, Duration delay, const sigset_t& signals);

// Calls `open` until it succeeds or fails for good: a store that cannot be reached at start
// is retried with backoff and said in the log (and to `on_retry`, for systemd's STATUS=),
// never crash-looped (SPEC 5). A stop signal meanwhile ends the wait: then it returns an
// empty pointer. REQUIRES: `signals` blocked.
template <typename T>
Result<std::unique_ptr<T>> OpenWithRetry(const std::function<Result<std::unique_ptr<T>>()>& open,
                                         const sigset_t& signals,
                                         const std::function<void(const Error&)>& on_retry = {}) {
  Duration delay = std::chrono::milliseconds(500);
  for (int attempt = 1;; ++attempt) {
    Result<std::unique_ptr<T>> opened = open();
    if (opened || !opened.error().retryable()) return opened;
    if (on_retry) on_retry(opened.error());
    if (WaitBeforeRetry(opened.error(), attempt, delay, signals)) return std::unique_ptr<T>();
    delay = std::min<Duration>(delay * 2, std::chrono::seconds(30));
  }
}
// Prints "baton: <message>" to stderr (an error line of the JSON log once JSON logging is
// set up) and returns the exit code the error calls for.
int ReportError(const Error& error);

}  // namespace baton::cli
