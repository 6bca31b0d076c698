// baton-queue-bench: SPEC 3's numbers for the per-tenant work queues, on SQLite or PostgreSQL.
//
//   baton-queue-bench --store sqlite|postgresql [--pg-url URL] [--measure throughput,latency,
//                     stuck,heartbeat] [--items 20000] [--tenants 1000,20000] [--slots 1,4,16]
//                     [--workers 1] [--mode callback|command] [--baton PATH] [--repeat 1]
//                     [--results FILE]
//
// throughput: per configuration, a fresh queue with the items offered first (not timed), then
//   Workers with a no-op callback (or one `baton work ... -- true` in command mode) timed
//   until every item is acknowledged; the account is checked both ways (the callback's own
//   count of each item, and the store's Stats) and any item missing or run twice is an error.
// latency, stuck, heartbeat: see queue_timing.h and queue_heartbeat.h.
//
// Prints Markdown tables; with --results, appends one JSON line per measurement to FILE for
// baton-queue-table (which joins both stores and the graphile-worker peer into one table).
// Exits non-zero when something broke (an account that does not add up, a hang, a failed
// call); a slow number is reported, not an error.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "duration.h"
#include "harness.h"
#include "queue_heartbeat.h"
#include "queue_report.h"
#include "queue_setup.h"
#include "queue_throughput.h"
#include "queue_timing.h"

namespace baton::bench {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct Options {
  std::string store;
  std::string pg_url;
  std::string sqlite_path;  // Empty: a fresh file in a scratch directory.
  std::vector<std::string> measure = {"throughput"};
  int64_t items = 20000;
  std::vector<int> tenants = {1000, 20000};
  std::vector<int> slots = {1, 4, 16};
  int workers = 1;
  std::string mode = "callback";
  std::string baton;
  int repeat = 1;
  std::string results;
  int samples = 200;
  std::string spacing = "20ms";
  std::string visibility = "2s";
  int trials = 10;
  std::string window = "20s";
  int heartbeat_instances = 5;
  std::string helper;
  bool keep = false;
  bool analyze = false;
  bool late_rescuer = false;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  CLI::App app{
      "SPEC 3's queue numbers on one store: throughput, offer-to-claim latency, stuck "
      "item re-claim, heartbeat under queue load. Prints Markdown tables.",
      "baton-queue-bench"};
  app.add_option("--store", o.store, "sqlite or postgresql")
      ->required()
      ->check(CLI::IsMember({"sqlite", "postgresql"}));
  app.add_option("--pg-url", o.pg_url, "The PostgreSQL URL (--store postgresql)");
  app.add_option("--sqlite-path", o.sqlite_path,
                 "The SQLite file (default: a fresh one in a scratch directory)");
  app.add_option("--measure", o.measure, "What to measure (default throughput)")
      ->delimiter(',')
      ->check(CLI::IsMember({"throughput", "latency", "stuck", "heartbeat"}));
  app.add_option("--items", o.items, "Items per throughput run (default 20000)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  app.add_option("--tenants", o.tenants, "Tenants the items are spread over (default 1000,20000)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--slots", o.slots, "Slots (concurrency) of each Worker (default 1,4,16)")
      ->delimiter(',')
      ->check(CLI::Range(1, 500));
  app.add_option("--workers", o.workers, "Workers, each with its own connection (default 1)")
      ->check(CLI::Range(1, 64));
  app.add_option("--mode", o.mode,
                 "callback (a no-op library callback) or command (baton work "
                 "-- true)")
      ->check(CLI::IsMember({"callback", "command"}));
  app.add_option("--baton", o.baton, "The baton program (command mode)");
  app.add_option("--repeat", o.repeat, "Runs of each throughput configuration (default 1)")
      ->check(CLI::Range(1, 100));
  app.add_option("--results", o.results, "Append one JSON line per measurement to this file");
  app.add_option("--samples", o.samples, "Offers timed by the latency measurement (default 200)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--spacing", o.spacing, "Time between those offers (default 20ms)")
      ->check(DurationText());
  app.add_option("--visibility", o.visibility, "Visibility of the stuck item (default 2s)")
      ->check(DurationText());
  app.add_option("--trials", o.trials, "Stuck-item trials (default 10)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--window", o.window, "Heartbeats timed under queue load this long (default 20s)")
      ->check(DurationText());
  app.add_option("--heartbeat-instances", o.heartbeat_instances,
                 "Electors heartbeating meanwhile (default 5)")
      ->check(CLI::Range(1, 500));
  app.add_option("--helper", o.helper,
                 "The baton-queue-bench-worker program (default: beside this one)");
  app.add_flag("--analyze", o.analyze,
               "PostgreSQL: ANALYZE the queue tables after offering, before timing");
  app.add_flag("--late-rescuer", o.late_rescuer,
               "Stuck item: start the rescuing Worker only after the stuck claim, not idle "
               "before the offer");
  app.add_flag("--keep", o.keep, "Keep the scratch directory (SQLite file, baton work logs)");
  ParseOrExit(app, argc, argv);
  const auto usage = [](const std::string& message) {
    std::fprintf(stderr, "baton-queue-bench: %s\n", message.c_str());
    std::exit(2);
  };
  if (o.store == "postgresql" && o.pg_url.empty()) usage("--store postgresql needs --pg-url");
  if (o.mode == "command" && o.baton.empty()) usage("--mode command needs --baton");
  return o;
}

void Append(const Options& options, nlohmann::json line, std::vector<nlohmann::json>& all) {
  line["load_1m"] = LoadAverage();
  all.push_back(line);
  if (options.results.empty()) return;
  std::ofstream out(options.results, std::ios::app);
  out << line.dump() << "\n";
}

bool Ok(const nlohmann::json& line) {
  return line.value("ok", false) || !line.value("skipped", "").empty();
}

int Main(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);
  StopOnSignals();
  spdlog::set_level(spdlog::level::warn);  // A line per claimed item says nothing here.
  std::optional<std::string> scratch = MakeScratchDir("baton-queue-bench");
  if (!scratch) return 1;
  QueueTarget target{options.store, options.pg_url,
                     options.sqlite_path.empty() ? *scratch + "/baton.db" : options.sqlite_path};
  if (options.helper.empty()) {
    const std::string self = SelfExe();
    options.helper = self.substr(0, self.rfind('/') + 1) + "baton-queue-bench-worker";
  }
  const double load_start = LoadAverage();
  std::vector<nlohmann::json> all;
  bool broken = false;
  const auto wants = [&options](const char* what) {
    return std::find(options.measure.begin(), options.measure.end(), what) != options.measure.end();
  };

  if (wants("throughput")) {
    for (int tenants : options.tenants) {
      for (int slots : options.slots) {
        for (int run = 1; run <= options.repeat && !Interrupted(); ++run) {
          ThroughputConfig config;
          config.mode = options.mode;
          config.items = options.items;
          config.tenants = tenants;
          config.slots = slots;
          config.workers = options.mode == "command" ? 1 : options.workers;
          config.run = run;
          config.analyze = options.analyze;
          config.baton = options.baton;
          config.scratch = *scratch;
          std::fprintf(stderr,
                       "bench: throughput %s %s, %lld items, %d tenants, %d slots, run %d\n",
                       target.kind.c_str(), config.mode.c_str(),
                       static_cast<long long>(config.items), tenants, slots, run);
          const ThroughputResult result = MeasureThroughput(target, config);
          Append(options, result.ToJson(), all);
          broken = broken || !Ok(all.back());
        }
      }
    }
  }
  if (wants("latency") && !Interrupted()) {
    std::fprintf(stderr, "bench: offer → claim latency on %s, %d samples\n", target.kind.c_str(),
                 options.samples);
    Append(options,
           MeasureOfferLatency(target, options.samples,
                               duration_cast<milliseconds>(*ParseDuration(options.spacing)))
               .ToJson(),
           all);
    broken = broken || !Ok(all.back());
  }
  if (wants("stuck") && !Interrupted()) {
    std::fprintf(stderr, "bench: stuck item re-claim on %s, %d trials\n", target.kind.c_str(),
                 options.trials);
    Append(options,
           MeasureStuckReclaim(target, options.helper,
                               duration_cast<milliseconds>(*ParseDuration(options.visibility)),
                               options.trials, options.late_rescuer)
               .ToJson(),
           all);
    broken = broken || !Ok(all.back());
  }
  if (wants("heartbeat") && !Interrupted()) {
    HeartbeatConfig config;
    config.window = duration_cast<milliseconds>(*ParseDuration(options.window));
    config.instances = options.heartbeat_instances;
    config.slots = options.slots.back();
    config.workers = options.workers;
    config.tenants = options.tenants.front();
    std::fprintf(stderr, "bench: heartbeat latency under queue load on %s, %s\n",
                 target.kind.c_str(), options.window.c_str());
    Append(options, MeasureHeartbeatUnderLoad(target, config).ToJson(), all);
    broken = broken || !Ok(all.back());
  }

  const bool any_throughput = wants("throughput");
  if (any_throughput) std::printf("%s\n", FormatThroughputTable(all).c_str());
  if (wants("latency") || wants("stuck") || wants("heartbeat")) {
    std::printf("%s\n", FormatTimingTable(all).c_str());
  }
  std::printf(
      "Measured by `baton-queue-bench` on %s. Load average %.2f at the start and %.2f at "
      "the end, on %ld CPUs.\n",
      target.kind.c_str(), load_start, LoadAverage(), sysconf(_SC_NPROCESSORS_ONLN));
  const std::string problems = FormatProblems(all);
  if (!problems.empty()) std::printf("\nProblems:\n%s", problems.c_str());
  std::fflush(stdout);
  KeepOrRemove(*scratch, options.keep || broken);
  return broken || Interrupted() ? 1 : 0;
}

}  // namespace
}  // namespace baton::bench

int main(int argc, char** argv) { return baton::bench::Main(argc, argv); }
