// baton-failover-bench: how long a group of `baton run` instances is without an active child
// when the active baton is SIGKILLed (crash failover) or SIGTERMed (graceful handover).
// SPEC 2, "Numbers it must reach". Prints a Markdown table; exits non-zero only when something
// broke (no takeover, two children at once, a process left behind), never for a slow number.
// With --wrapper etcdctl-lock the instances are `etcdctl lock --ttl` wrappers of the same
// child on an etcd store instead, measured the same way (SPEC 2: "against `etcdctl lock
// --ttl` in the same run"); a child outliving its wrapper and a SIGTERM that hands nothing
// over are then counted, not failures. --results appends one JSON line per trial.
//
//   baton-failover-bench --baton PATH [--store URL | --store-kind sqlite] [--trials 30]
//                        [--ttl 1s] [--heartbeat D] [--instances 3] [--keep]
//                        [--wrapper baton|etcdctl-lock] [--etcdctl PATH] [--results FILE]

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster.h"
#include "duration.h"
#include "harness.h"
#include "report.h"
#include "start_log.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

struct Options {
  RunOptions run;
  std::string store_url;  // Empty: a fresh SQLite file in the scratch directory.
  std::string store_kind = "sqlite";
  int trials = 30;
  int instances = 3;
  Wrapper wrapper = Wrapper::kBaton;
  std::string etcdctl = "/usr/bin/etcdctl";
  std::string results;  // Empty: no JSON lines.

  bool Etcdctl() const { return wrapper == Wrapper::kEtcdctlLock; }
  std::string System() const { return Etcdctl() ? "etcdctl-lock" : "baton"; }
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
  std::string wrapper = "baton";
  app.add_option("--wrapper", wrapper,
                 "What wraps the child: baton (`baton run`, the default) or etcdctl-lock "
                 "(`etcdctl lock --ttl`, on an etcd:// --store)")
      ->check(CLI::IsMember({"baton", "etcdctl-lock"}));
  app.add_option("--etcdctl", o.etcdctl, "The etcdctl program (default /usr/bin/etcdctl)");
  app.add_option("--results", o.results, "Append one JSON line per trial to this file");
  ParseOrExit(app, argc, argv);
  o.wrapper = wrapper == "etcdctl-lock" ? Wrapper::kEtcdctlLock : Wrapper::kBaton;
  if (o.Etcdctl()) {
    const auto ttl = o.run.Ttl();
    const char* problem = nullptr;
    if (o.store_url.rfind("etcd://", 0) != 0) {
      problem = "--wrapper etcdctl-lock needs an etcd:// --store";
    } else if (ttl % seconds(1) != nanoseconds(0)) {
      problem = "--wrapper etcdctl-lock needs a ttl of whole seconds (etcdctl lock --ttl=N)";
    } else if (access(o.etcdctl.c_str(), X_OK) != 0) {
      problem = "--etcdctl is not executable (install etcd-client)";
    }
    if (problem != nullptr) {
      std::fprintf(stderr, "baton-failover-bench: %s\n", problem);
      std::exit(2);
    }
  }
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

// What one trial came to.
struct Outcome {
  std::optional<double> ms;  // Signal to the next child's start; none when nothing took over.
  bool outlived = false;     // The signalled wrapper's child still ran when the next started.
};

// Drives the trials. Keeps the last child start it saw: the active instance and its token.
class Bench final {
 public:
  Bench(Cluster& cluster, StartLog& log, const Options& options, const ReportContext& context)
      : cluster_(cluster),
        log_(log),
        options_(options),
        context_(context),
        ttl_(context.ttl),
        heartbeat_(context.heartbeat),
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
      const auto outcome = Trial(kind, series);
      if (!outcome) {
        ++series.failures;
        break;
      }
      Record(kind, trial, *outcome);
      if (outcome->outlived && options_.Etcdctl()) ++series.outlived;  // baton: an overlap.
      if (!outcome->ms) {
        ++series.not_handed_over;
        std::fprintf(stderr, "bench: %s %d/%d: no handover (%s)\n", name, trial, options_.trials,
                     last_trial_.c_str());
        continue;
      }
      series.ms.push_back(*outcome->ms);
      std::fprintf(stderr, "bench: %s %d/%d: %.1f ms%s (%s, token %llu)\n", name, trial,
                   options_.trials, *outcome->ms, outcome->outlived ? ", old child outlived" : "",
                   last_trial_.c_str(), static_cast<unsigned long long>(current_->token));
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
    const int64_t give_up = MonoNs() + (3 * ttl_ + seconds(10)).count();
    while (!Interrupted() && MonoNs() < give_up) {
      Drain(milliseconds(20));
      if (!current_ || !cluster_.Settled(current_->instance)) continue;
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
      std::fprintf(stderr, "bench: %s: child of %s (token %llu) started while another ran\n",
                   options_.Etcdctl() ? "outlived" : "OVERLAP", line.instance.c_str(),
                   static_cast<unsigned long long>(line.token));
      ++overlaps_seen_;
    }
    if (!current_ || line.token > current_->token) current_ = line;
  }

  // One signal to the active instance; nullopt when the run broke.
  std::optional<Outcome> Trial(Kind kind, Series& series) {
    const StartLine active = *current_;
    const std::string& victim = active.instance;
    const int sig = kind == Kind::kCrashFailover ? SIGKILL : SIGTERM;
    const int overlaps_before = overlaps_seen_;
    last_trial_ = victim + " signalled at " + WallClock() + ", ";
    const auto sent = cluster_.Signal(victim, sig);
    if (!sent) {
      std::fprintf(stderr, "bench: cannot signal %s\n", victim.c_str());
      return std::nullopt;
    }
    // A takeover needs at most the ttl; for baton the rest is slack for a loaded machine, and
    // missing it breaks the run. etcdctl lock may keep the lock on SIGTERM, so for it the
    // bound decides "no handover".
    const nanoseconds bound = 2 * ttl_ + (options_.Etcdctl() ? seconds(1) : seconds(5));
    const int64_t give_up = *sent + bound.count();
    while (!Interrupted() && current_->token == active.token && MonoNs() < give_up) {
      if (auto line = log_.Next(milliseconds((give_up - MonoNs()) / 1'000'000 + 1))) Note(*line);
    }
    Outcome outcome;
    const int overlaps = overlaps_seen_ - overlaps_before;
    outcome.outlived = overlaps > 0;
    if (!options_.Etcdctl()) series.overlaps += overlaps;
    if (current_->token == active.token) {
      if (!options_.Etcdctl() || sig == SIGKILL) {
        std::fprintf(stderr, "bench: no child started within %lld ms of signalling %s\n",
                     static_cast<long long>(bound.count() / 1'000'000), victim.c_str());
        return std::nullopt;
      }
      last_trial_ += "nothing started within " + std::to_string(bound.count() / 1'000'000) +
                     " ms; its child stopped";
    } else if (current_->instance == victim) {
      std::fprintf(stderr, "bench: %s started a child after it was signalled\n", victim.c_str());
      return std::nullopt;
    } else {
      last_trial_ += current_->instance + " took over";
      outcome.ms = static_cast<double>(current_->mono_ns - *sent) / 1e6;
    }
    // etcdctl neither stops its command when it dies nor on SIGTERM: the benchmark, their
    // subreaper, stops the child so the next trial starts with one.
    if (options_.Etcdctl() && !cluster_.StopDescendant(active.pid, seconds(5))) {
      std::fprintf(stderr, "bench: the child of %s (pid %d) did not stop\n", victim.c_str(),
                   active.pid);
      return std::nullopt;
    }
    const auto status = cluster_.WaitExit(victim, seconds(10));
    if (!status) {
      std::fprintf(stderr, "bench: %s did not exit within 10 s of signal %d\n", victim.c_str(),
                   sig);
      return std::nullopt;
    }
    if (sig == SIGTERM && !options_.Etcdctl() &&
        !(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)) {
      std::fprintf(stderr, "bench: %s did not exit 0 on SIGTERM (wait status %d)\n", victim.c_str(),
                   *status);
      return std::nullopt;
    }
    return outcome;
  }

  // One JSON line per trial, for tables and plots across runs (bench/plot.py).
  void Record(Kind kind, int trial, const Outcome& outcome) {
    if (options_.results.empty()) return;
    nlohmann::json row = {
        {"bench", "failover"},
        {"system", options_.System()},
        {"store", context_.store_kind},
        {"ttl_s", std::chrono::duration<double>(ttl_).count()},
        {"kind", kind == Kind::kCrashFailover ? "crash" : "graceful"},
        {"trial", trial},
        {"ms", outcome.ms ? nlohmann::json(*outcome.ms) : nlohmann::json(nullptr)},
        {"handed_over", outcome.ms.has_value()},
        {"outlived", outcome.outlived},
        {"instances", options_.instances},
        {"load", LoadAverage()},
    };
    std::ofstream out(options_.results, std::ios::app);
    out << row.dump() << '\n';
    if (!out) std::fprintf(stderr, "bench: cannot append to %s\n", options_.results.c_str());
  }

  Cluster& cluster_;
  StartLog& log_;
  const Options& options_;
  const ReportContext& context_;
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
  // etcd's client renews a session's lease every third of its ttl.
  const nanoseconds heartbeat = options.Etcdctl() ? ttl / 3 : options.run.Heartbeat();
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
  cluster_options.wrapper = options.wrapper;
  cluster_options.baton = options.run.baton;
  cluster_options.etcdctl = options.etcdctl;
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
  context.system = options.System();
  context.load_start = LoadAverage();

  std::vector<Series> results;
  std::vector<std::string> leaks;
  {
    Cluster cluster(cluster_options);
    Bench bench(cluster, *log, options, context);
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
