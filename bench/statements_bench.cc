// baton-pg-statements-bench: how many statements each `baton run` instance makes per heartbeat
// at steady state on PostgreSQL, counted by the server itself (pg_stat_statements). SPEC 2,
// "Numbers it must reach": one per heartbeat, active or passive; waking is by NOTIFY, not by
// polling. Prints a Markdown table; exits non-zero only when something broke (a group that
// did not settle, an instance that died, a query that failed, a process left behind).
//
//   baton-pg-statements-bench --baton PATH --store URL --stats URL [--instances 3,20]
//                             [--window 10s] [--ttl 1s] [--heartbeat D] [--latency] [--keep]
//
// --latency also times the heartbeats of every instance from its own metrics: with
// --instances 500 it is the scale benchmark's point as separate `baton run` processes.
//
// --store is what baton connects with; --stats must connect to the same database as a
// different role (a superuser, to reset pg_stat_statements): statements made by the --stats
// role are the benchmark's own and are not counted.

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cluster.h"
#include "duration.h"
#include "harness.h"
#include "metrics_latency.h"
#include "pg_session.h"
#include "start_log.h"
#include "statements_report.h"
#include "support/metrics_scrape.h"

namespace baton::bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct Options {
  RunOptions run;
  std::string store_url;
  std::string stats_url;
  std::vector<int> instances = {3, 20};
  std::string window = "10s";
  bool latency = false;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{
      "Statements per `baton run` instance per heartbeat on PostgreSQL, as pg_stat_statements "
      "counts them. Prints a Markdown table.",
      "baton-pg-statements-bench"};
  AddRunOptions(app, o.run);
  app.add_option("--store", o.store_url, "The PostgreSQL URL baton connects with")->required();
  app.add_option("--stats", o.stats_url,
                 "The same database as another role, a superuser (to reset the counters)")
      ->required();
  app.add_option("--instances", o.instances, "Group sizes to measure (default 3,20)")
      ->delimiter(',')
      ->check(AtLeast(1));
  app.add_option("--window", o.window, "How long to count at steady state (default 10s)")
      ->check(DurationText());
  app.add_flag("--latency", o.latency,
               "Also time the heartbeats from each instance's own metrics (--metrics on a free "
               "port), scraped at the window's start and end");
  ParseOrExit(app, argc, argv);
  return o;
}

// The queries the benchmark makes as the --stats role.
class Stats final {
 public:
  explicit Stats(PgSession session) : session_(std::move(session)) {}

  // Fails unless pg_stat_statements is loaded and installed in this database.
  bool Check() {
    return Run("SELECT 1 FROM pg_stat_statements LIMIT 1", {}) &&
           Run("SELECT pg_stat_statements_reset()", {});
  }

  // baton's sessions on this database, or nullopt when one of them is the --stats role's
  // (its statements could then not be told from the benchmark's).
  std::optional<int> BatonSessions() {
    auto rows =
        Run("SELECT count(*), count(*) FILTER (WHERE usename = current_user) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'baton'",
            {});
    if (!rows || rows->empty()) return std::nullopt;
    if ((*rows)[0][1] != "0") {
      std::fprintf(stderr,
                   "bench: baton connects as the --stats role; give it a role of its own\n");
      return std::nullopt;
    }
    return std::atoi((*rows)[0][0].c_str());
  }

  // The group's lease as (token, renewals), or nullopt.
  std::optional<std::pair<int64_t, int64_t>> Lease(const std::string& group) {
    auto rows =
        Run("SELECT token, renewals FROM baton.leases WHERE group_name = $1 AND holder <> '' "
            "ORDER BY name LIMIT 1",
            {group});
    if (!rows || rows->empty()) return std::nullopt;
    return std::pair{std::atoll((*rows)[0][0].c_str()), std::atoll((*rows)[0][1].c_str())};
  }

  bool Reset() { return Run("SELECT pg_stat_statements_reset()", {}).has_value(); }

  // Every statement made on this database since Reset() by a role other than ours.
  std::optional<std::vector<StatementCount>> Counts() {
    auto rows =
        Run("SELECT calls, query, total_exec_time FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "ORDER BY calls DESC, query",
            {});
    if (!rows) return std::nullopt;
    std::vector<StatementCount> counts;
    for (const auto& row : *rows) {
      counts.push_back({std::atoll(row[0].c_str()), row[1], std::atof(row[2].c_str())});
    }
    return counts;
  }

 private:
  std::optional<PgRows> Run(const std::string& sql, const std::vector<std::string>& params) {
    std::string error;
    auto rows = session_.Query(sql, params, error);
    if (!rows) std::fprintf(stderr, "bench: %s: %s", sql.c_str(), error.c_str());
    return rows;
  }

  PgSession session_;
};

// Starts `instances` of one group, waits for steady state, counts statements over the window.
// nullopt when something broke; `leaks` gets any process left behind.
std::optional<Measurement> Measure(int instances, const Options& options, nanoseconds heartbeat,
                                   const std::string& dir, Stats& stats,
                                   std::vector<std::string>& leaks) {
  ClusterOptions cluster_options;
  cluster_options.baton = options.run.baton;
  cluster_options.store_url = options.store_url;
  cluster_options.group =
      "statements-bench-" + std::to_string(getpid()) + "-" + std::to_string(instances);
  cluster_options.ttl = options.run.ttl;
  cluster_options.extra_run_args = options.run.ExtraRunArgs();
  if (options.latency) {
    cluster_options.extra_run_args.insert(cluster_options.extra_run_args.end(),
                                          {"--metrics", "127.0.0.1:0"});
  }
  cluster_options.child = {SelfExe(), "__child"};
  cluster_options.log_dir = dir + "/" + std::to_string(instances);
  std::filesystem::create_directories(cluster_options.log_dir);

  Measurement m;
  m.instances = instances;
  m.heartbeat = heartbeat;
  bool ok = false;
  Cluster cluster(cluster_options);
  [&] {
    for (int i = 0; i < instances; ++i) {
      if (!cluster.StartInstance()) return;
    }
    // Steady state: every instance registered and one active, then a few heartbeats more
    // so that start-up (schema check, LISTEN, first acquisition) is over.
    const int64_t give_up = MonoNs() + std::chrono::nanoseconds(std::chrono::seconds(60)).count();
    for (;;) {
      if (Interrupted() || MonoNs() > give_up) {
        std::fprintf(stderr, "bench: %d instances did not settle with one active\n", instances);
        return;
      }
      auto view = cluster.Status();
      if (view && view->active && view->members == cluster.LiveIds() &&
          static_cast<int>(view->members.size()) == instances) {
        break;
      }
      Sleep(milliseconds(100));
    }
    if (!Sleep(std::max<nanoseconds>(std::chrono::seconds(1), 3 * heartbeat))) return;

    auto sessions = stats.BatonSessions();
    auto lease_before = stats.Lease(cluster_options.group);
    if (!sessions || !lease_before) return;
    m.sessions = *sessions;
    std::vector<std::string> addresses;
    if (options.latency) {
      for (const std::string& id : cluster.LiveIds()) {
        auto address =
            test_support::LoggedMetricsAddress(cluster_options.log_dir + "/" + id + ".log");
        if (!address) {
          std::fprintf(stderr, "bench: %s logged no metrics address\n", id.c_str());
          return;
        }
        addresses.push_back(*address);
      }
    }
    std::optional<HeartbeatBuckets> buckets_before;
    if (options.latency && !(buckets_before = ScrapeHeartbeatBuckets(addresses))) return;
    if (!stats.Reset()) return;
    const int64_t start = MonoNs();
    if (!Sleep(*ParseDuration(options.window))) return;
    auto counts = stats.Counts();
    const int64_t end = MonoNs();
    if (options.latency) {
      auto buckets_after = ScrapeHeartbeatBuckets(addresses);
      if (!buckets_after) return;
      m.latency = LatencyBetween(*buckets_before, *buckets_after);
    }
    auto lease_after = stats.Lease(cluster_options.group);
    if (!counts || !lease_after) return;
    m.window = nanoseconds(end - start);
    m.statements = *counts;
    if (lease_after->first == lease_before->first) {
      m.renewals = lease_after->second - lease_before->second;
    } else {
      std::fprintf(stderr, "bench: %d instances: the lease changed hands during the window\n",
                   instances);
    }
    if (static_cast<int>(cluster.LiveIds().size()) != instances) {
      std::fprintf(stderr, "bench: %d instances: an instance exited during the window\n",
                   instances);
      return;
    }
    ok = true;
  }();
  for (auto& leak : cluster.Shutdown(milliseconds(5000))) leaks.push_back(std::move(leak));
  if (!ok) return std::nullopt;
  return m;
}

int Main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  const nanoseconds heartbeat = options.run.Heartbeat();
  if (!Supervise()) return 1;

  std::string error;
  auto session = PgSession::Connect(options.stats_url, error);
  if (!session) {
    std::fprintf(stderr, "bench: cannot connect with --stats: %s", error.c_str());
    return 1;
  }
  Stats stats(std::move(*session));
  if (!stats.Check()) {
    std::fprintf(stderr, "bench: pg_stat_statements is not usable on the --stats database\n");
    return 1;
  }

  const auto scratch = MakeScratchDir("baton-statements-bench");
  if (!scratch) return 1;
  const std::string& dir = *scratch;

  StatementsContext context;
  context.ttl_text = options.run.ttl;
  context.heartbeat = heartbeat;
  context.cpus = sysconf(_SC_NPROCESSORS_ONLN);
  context.load_start = LoadAverage();
  std::vector<Measurement> results;
  std::vector<std::string> leaks;
  bool broken = false;
  for (int n : options.instances) {
    if (Interrupted()) break;
    std::fprintf(stderr, "bench: %d instances, counting statements for %s\n", n,
                 options.window.c_str());
    auto m = Measure(n, options, heartbeat, dir, stats, leaks);
    if (!m) {
      broken = true;
      break;
    }
    results.push_back(std::move(*m));
  }
  context.load_end = LoadAverage();
  for (const auto& leak : leaks) std::fprintf(stderr, "bench: LEFT BEHIND: %s\n", leak.c_str());
  std::printf("%s", FormatStatementsReport(context, results).c_str());
  std::fflush(stdout);

  broken = broken || Interrupted() || !leaks.empty();
  KeepOrRemove(dir, broken || options.run.keep);
  return broken ? 1 : 0;
}

// The child under `baton run`: does nothing until SIGTERM (or SIGINT), then exits 0.
int IdleChild() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}

}  // namespace
}  // namespace baton::bench

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "__child") == 0) return baton::bench::IdleChild();
  return baton::bench::Main(argc, argv);
}
