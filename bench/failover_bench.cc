// baton-failover-bench: how long a group of `baton run` instances is without an active child
// when the active baton is SIGKILLed (crash failover) or SIGTERMed (graceful handover).
// SPEC 2, "Numbers it must reach". Prints a Markdown table; exits non-zero only when something
// broke (no takeover, two children at once, a process left behind), never for a slow number.
//
//   baton-failover-bench --baton PATH [--store URL | --store-kind sqlite] [--trials 30]
//                        [--ttl 1s] [--heartbeat D] [--instances 3] [--keep]

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "cluster.h"
#include "harness.h"
#include "report.h"
#include "start_log.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Options {
  RunOptions run;
  std::string store_url;  // Empty: a fresh SQLite file in the scratch directory.
  std::string store_kind = "sqlite";
  int trials = 30;
  int instances = 3;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{
      "How long a group of `baton run` instances is without an active child when the active "
      "baton is SIGKILLed or SIGTERMed. Prints a Markdown table.",
      "baton-failover-bench"};
  AddRunOptions(app, o.run);
  auto* store = app.add_option("--store", o.store_url,
                               "The store's URL (default: a fresh SQLite file of its own)");
  app.add_option("--store-kind", o.store_kind, "sqlite: a fresh SQLite file (the default)")
      ->check(CLI::IsMember({"sqlite"}))
      ->excludes(store);
  app.add_option("--trials", o.trials, "Trials of each kind (default 30)")->check(AtLeast(1));
  app.add_option("--instances", o.instances, "Instances in the group (default 3)")
      ->check(AtLeast(2, "someone has to take over"));
  ParseOrExit(app, argc, argv);
  if (!o.store_url.empty()) {
    // The kind is the URL's scheme; it picks the SPEC's limit for the handover row.
    const std::string scheme = o.store_url.substr(0, o.store_url.find(':'));
    o.store_kind = scheme == "postgres" ? "postgresql" : scheme;
  }
  return o;
}

// Wall-clock time as baton's log lines show it, so a trial can be found in the logs.
std::string WallClock() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1'000'000);
  return buf;
}

// Drives the trials. Keeps the last child start it saw: the active instance and its token.
class Bench final {
 public:
  Bench(Cluster& cluster, StartLog& log, const Options& options, nanoseconds ttl,
        nanoseconds heartbeat)
      : cluster_(cluster),
        log_(log),
        options_(options),
        ttl_(ttl),
        heartbeat_(heartbeat),
        random_(std::random_device{}()) {}

  Series Run(Kind kind) {
    Series series;
    series.kind = kind;
    series.planned = options_.trials;
    const char* name = kind == Kind::kCrashFailover ? "crash failover" : "graceful handover";
    for (int trial = 1; trial <= options_.trials && !Interrupted(); ++trial) {
      if (!Steady()) {
        std::fprintf(stderr, "bench: %s: the group did not settle with one active child\n", name);
        ++series.failures;
        break;
      }
      const auto sample = Trial(kind, series);
      if (!sample) {
        ++series.failures;
        break;
      }
      series.ms.push_back(*sample);
      std::fprintf(stderr, "bench: %s %d/%d: %.1f ms (%s, token %llu)\n", name, trial,
                   options_.trials, *sample, last_trial_.c_str(),
                   static_cast<unsigned long long>(current_->token));
    }
    return series;
  }

 private:
  // Waits until exactly the live instances are registered, the store names the one whose
  // child started last, and then 2 heartbeats plus a random fraction of one more, so every
  // passive has watched the lease and the signal lands at a random point between renewals.
  bool Steady() {
    while (static_cast<int>(cluster_.LiveIds().size()) < options_.instances) {
      if (!cluster_.StartInstance()) return false;
    }
    const int64_t give_up = MonoNs() + (3 * ttl_ + std::chrono::seconds(10)).count();
    while (!Interrupted() && MonoNs() < give_up) {
      Drain(milliseconds(20));
      auto view = cluster_.Status();
      if (!view || !current_ || view->members != cluster_.LiveIds() ||
          view->active != current_->instance) {
        continue;
      }
      const uint64_t token = current_->token;
      std::uniform_int_distribution<int64_t> phase(0, heartbeat_.count());
      Drain(std::chrono::duration_cast<milliseconds>(2 * heartbeat_ + nanoseconds(phase(random_))));
      if (current_->token == token) return true;  // Otherwise the active changed: settle again.
    }
    return false;
  }

  // Reads start lines for `how_long`, keeping the newest.
  void Drain(milliseconds how_long) {
    const int64_t end = MonoNs() + how_long.count() * 1'000'000;
    for (int64_t left; !Interrupted() && (left = end - MonoNs()) > 0;) {
      if (auto line = log_.Next(milliseconds(left / 1'000'000 + 1))) Note(*line);
    }
  }

  void Note(const StartLine& line) {
    if (line.overlap) {
      std::fprintf(stderr, "bench: OVERLAP: child of %s (token %llu) started while another ran\n",
                   line.instance.c_str(), static_cast<unsigned long long>(line.token));
      ++overlaps_seen_;
    }
    if (!current_ || line.token > current_->token) current_ = line;
  }

  // One signal to the active baton; the time to the next child's start, in ms.
  std::optional<double> Trial(Kind kind, Series& series) {
    const std::string victim = current_->instance;
    const uint64_t token = current_->token;
    const int sig = kind == Kind::kCrashFailover ? SIGKILL : SIGTERM;
    const int overlaps_before = overlaps_seen_;
    last_trial_ = victim + " signalled at " + WallClock() + ", ";
    const auto sent = cluster_.Signal(victim, sig);
    if (!sent) {
      std::fprintf(stderr, "bench: cannot signal %s\n", victim.c_str());
      return std::nullopt;
    }
    // A takeover needs at most the ttl; the rest is slack for a loaded machine.
    const int64_t give_up = *sent + (2 * ttl_ + std::chrono::seconds(5)).count();
    while (!Interrupted() && current_->token == token && MonoNs() < give_up) {
      if (auto line = log_.Next(milliseconds((give_up - MonoNs()) / 1'000'000 + 1))) Note(*line);
    }
    series.overlaps += overlaps_seen_ - overlaps_before;
    if (current_->token == token) {
      std::fprintf(stderr, "bench: no child started within %lld ms of signalling %s\n",
                   static_cast<long long>((give_up - *sent) / 1'000'000), victim.c_str());
      return std::nullopt;
    }
    if (current_->instance == victim) {
      std::fprintf(stderr, "bench: %s started a child after it was signalled\n", victim.c_str());
      return std::nullopt;
    }
    last_trial_ += current_->instance + " took over";
    const double ms = static_cast<double>(current_->mono_ns - *sent) / 1e6;
    const auto status = cluster_.WaitExit(victim, std::chrono::seconds(10));
    if (!status) {
      std::fprintf(stderr, "bench: %s did not exit within 10 s of signal %d\n", victim.c_str(),
                   sig);
      return std::nullopt;
    }
    if (sig == SIGTERM && !(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)) {
      std::fprintf(stderr, "bench: %s did not exit 0 on SIGTERM (wait status %d)\n", victim.c_str(),
                   *status);
      return std::nullopt;
    }
    return ms;
  }

  Cluster& cluster_;
  StartLog& log_;
  const Options& options_;
  nanoseconds ttl_;
  nanoseconds heartbeat_;
  std::mt19937_64 random_;
  std::optional<StartLine> current_;
  int overlaps_seen_ = 0;
  std::string last_trial_;  // Who was signalled when, and who took over: to find it in the logs.
};

int Main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  const nanoseconds ttl = options.run.Ttl();
  const nanoseconds heartbeat = options.run.Heartbeat();
  if (!Supervise()) return 1;
  const auto scratch = MakeScratchDir("baton-bench");
  if (!scratch) return 1;
  const std::string& dir = *scratch;
  const std::string fifo = dir + "/starts.fifo";
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    std::fprintf(stderr, "bench: mkfifo %s: %s\n", fifo.c_str(), std::strerror(errno));
    return 1;
  }
  auto log = StartLog::Open(fifo);
  if (!log) {
    std::fprintf(stderr, "bench: cannot open %s: %s\n", fifo.c_str(), std::strerror(errno));
    return 1;
  }

  ClusterOptions cluster_options;
  cluster_options.baton = options.run.baton;
  cluster_options.store_url =
      options.store_url.empty() ? "sqlite:" + dir + "/baton.db" : options.store_url;
  // Unique per run, so a shared PostgreSQL store can be used again without cleaning it.
  cluster_options.group = "failover-bench-" + std::to_string(getpid());
  cluster_options.ttl = options.run.ttl;
  cluster_options.extra_run_args = options.run.ExtraRunArgs();
  cluster_options.child = {SelfExe(), "__child", fifo, dir + "/child.lock"};
  cluster_options.log_dir = dir;

  ReportContext context{options.store_kind, options.run.ttl, ttl, heartbeat, options.instances};
  context.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  context.load_start = LoadAverage();

  std::vector<Series> results;
  std::vector<std::string> leaks;
  {
    Cluster cluster(cluster_options);
    Bench bench(cluster, *log, options, ttl, heartbeat);
    for (Kind kind : {Kind::kCrashFailover, Kind::kGracefulHandover}) {
      // After a broken series the group is in an unknown state: the next would mean little.
      if (Interrupted() || (!results.empty() && results.back().failures > 0)) break;
      results.push_back(bench.Run(kind));
    }
    if (Interrupted()) std::fprintf(stderr, "bench: interrupted; stopping every instance\n");
    leaks = cluster.Shutdown(milliseconds(5000));
  }
  for (const auto& leak : leaks) std::fprintf(stderr, "bench: LEFT BEHIND: %s\n", leak.c_str());

  context.load_end = LoadAverage();
  std::printf("%s", FormatReport(context, results).c_str());
  std::fflush(stdout);

  bool broken = Interrupted() || !leaks.empty();
  bool slow = false;
  for (const Series& s : results) {
    broken = broken || s.failures > 0 || s.overlaps > 0;
    slow = slow || !MeetsMust(context, s);
  }
  // The logs of a slow run are what explains it (the per-trial lines name who and when).
  KeepOrRemove(dir, broken || slow || options.run.keep);
  return broken ? 1 : 0;
}

}  // namespace
}  // namespace baton::bench

int main(int argc, char** argv) {
  // The child mode comes first and does nothing else, so its start stamp is taken early.
  if (argc == 4 && std::strcmp(argv[1], "__child") == 0) {
    return baton::bench::ChildMain(argv[2], argv[3]);
  }
  return baton::bench::Main(argc, argv);
}
