// `baton schedule`: holds the queue's scheduler lease and offers one item per tenant every
// --every (SPEC 3.1), as a scheduler hosted service of a ServiceHost, the way `baton serve`
// hosts it beside workers and elected services.
#include <signal.h>

#include <spdlog/spdlog.h>

#include <string.h>
#include <cstdlib>

#include "baton/service_host.h"
#include "child_supervisor.h"
#include "commands.h"
#include "core/signal_watcher.h"
#include "logging.h"
#include "metrics_setup.h"
#include "service_configs.h"
#include "service_notifier.h"
#include "store_url.h"
#include "subcommand.h"
#include "tenant_command.h"

namespace baton::cli {
namespace {

// The longest a tenant source may take, unless --tenants-timeout says otherwise: --every when
// shorter, so a listing is over before the next round is due.
constexpr Duration kDefaultTenantsTimeout = std::chrono::seconds(30);

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

bool EnvFlag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == "1";
}

Result<void> ResolveSource(const Settings& settings, ScheduleConfig& config) {
  std::vector<std::string> given;
  for (const char* name : {"tenants-file", "tenants-command", "tenants-sql"}) {
    if (settings.Get(name)) given.push_back(settings.Source(name));
  }
  if (given.size() != 1) {
    return Invalid(
        std::string(given.empty() ? "baton schedule needs a tenant source"
                                  : "baton schedule takes one tenant source, and got " + given[0] +
                                        " and " + given[1]) +
        ": give exactly one of --tenants-file F, --tenants-command CMD or --tenants-sql SQL, "
        "for example --tenants-file /etc/baton/tenants.txt");
  }
  if (auto file = settings.Get("tenants-file")) {
    if (file->empty()) return Invalid(settings.Source("tenants-file") + " is empty: name a file");
    config.kind = SourceKind::kFile;
    config.source = *file;
  } else if (auto command = settings.Get("tenants-command")) {
    auto words = SplitCommandLine(*command, settings.Source("tenants-command"));
    if (!words) return words.error();
    if (auto found = FindExecutable((*words)[0]); !found) {
      return Invalid(settings.Source("tenants-command") + ": " + found.error().message());
    }
    config.kind = SourceKind::kCommand;
    config.command = std::move(*words);
  } else {
    config.kind = SourceKind::kSql;
    config.source = *settings.Get("tenants-sql");
    if (config.source.empty()) return Invalid(settings.Source("tenants-sql") + " is empty");
    if (config.common.store_url.rfind("sqlite:", 0) == 0) {
      return Invalid(settings.Source("tenants-sql") +
                     " needs a PostgreSQL store, and the store is " + config.common.store_url +
                     ": use --tenants-file or --tenants-command, or a postgresql:// store");
    }
  }
  return Ok();
}

}  // namespace

Result<TimingOptions> ReadLeaseTiming(const Settings& settings) {
  TimingOptions timing;
  if (auto ttl = settings.GetDuration("ttl"); !ttl) {
    return ttl.error();
  } else if (*ttl) {
    timing.ttl = **ttl;
  }
  if (auto heartbeat = settings.GetDuration("heartbeat"); !heartbeat) {
    return heartbeat.error();
  } else {
    timing.heartbeat = *heartbeat;
  }
  return timing;
}

Result<ScheduleConfig> ResolveScheduleConfig(const Settings& settings) {
  ScheduleConfig config;
  auto common = ResolveCommon(settings, true);
  if (!common) return common.error();
  config.common = *common;
  auto queue = ResolveQueueName(settings);
  if (!queue) return queue.error();
  SchedulerOptions& s = config.scheduler;
  s.queue = {config.common.group, *queue};
  if (auto every = settings.GetDuration("every"); !every) {
    return every.error();
  } else if (*every) {
    s.every = **every;
  }
  if (auto ttl = settings.GetDuration("item-ttl"); !ttl) {
    return ttl.error();
  } else {
    s.item_ttl = *ttl;
  }
  auto lease = ReadLeaseTiming(settings);
  if (!lease) return lease.error();
  config.timing = *lease;
  auto timing = ResolveTiming(config.timing, FlagNames());
  if (!timing) return timing.error();
  config.resolved = *timing;
  config.tenants_timeout = std::min(kDefaultTenantsTimeout, s.every);
  if (auto timeout = settings.GetDuration("tenants-timeout"); !timeout) {
    return timeout.error();
  } else if (*timeout) {
    config.tenants_timeout = **timeout;
  }
  if (auto r = ResolveSource(settings, config); !r) return r.error();
  s.unsafe_offer_past_deadline = EnvFlag("BATON_UNSAFE_SCHEDULE_PAST_DEADLINE");
  s.unsafe_no_fence = EnvFlag("BATON_UNSAFE_NO_OFFER_FENCE");
  if (auto valid = Scheduler::Validate(s, FlagNames()); !valid) return valid.error();
  return config;
}

Result<std::unique_ptr<TenantSource>> OpenSource(const ScheduleConfig& config,
                                                 const OpenOptions& open) {
  switch (config.kind) {
    case SourceKind::kFile:
      return TenantFileSource(config.source);
    case SourceKind::kCommand:
      return TenantCommandSource(config.command, InheritedEnvironment(), config.tenants_timeout,
                                 Clock::Real());
    case SourceKind::kSql:
      return OpenTenantQuery(config.common.store_url, Clock::Real(), open, config.source,
                             config.tenants_timeout);
  }
  return Invalid("no tenant source");
}

void WarnUnsafe(const SchedulerOptions& options) {
  if (options.unsafe_offer_past_deadline) {
    spdlog::warn(
        "BATON_UNSAFE_SCHEDULE_PAST_DEADLINE=1: this scheduler goes on offering after its lease "
        "may be lost (for tests only)");
  }
  if (options.unsafe_no_fence) {
    spdlog::warn(
        "BATON_UNSAFE_NO_OFFER_FENCE=1: offers are NOT fenced by the lease's token "
        "(for tests only)");
  }
}

int ScheduleCommand(const Settings& settings) {
  auto config = ResolveScheduleConfig(settings);
  if (!config) return ReportError(config.error());
  if (auto logging = SetUpLogging(config->common.log_format, config->common.id); !logging) {
    return ReportError(logging.error());
  }
  const sigset_t signals = BlockStopSignals();
  // After the signals are blocked: the server's threads must not take a SIGTERM.
  auto exporter = StartMetrics(config->common);
  if (!exporter) return ReportError(exporter.error());
  const Common& common = config->common;
  ServiceNotifier notifier(common.store_url);
  notifier.Start();
  const auto unreachable = [&notifier](const Error& error) { notifier.StoreUnreachable(error); };
  const OpenOptions open{.store = common.store, .call_timeout = LeaseCallTimeout(config->resolved)};
  auto store = OpenWithRetry<Store>(
      [&] { return OpenStore(common.store_url, Clock::Real(), open); }, signals, unreachable);
  if (!store) return ReportError(store.error());
  if (!*store) return kExitOk;  // Stopped by a signal while waiting for the store.
  // The queue's connection keeps the store's default bounds (5 s), as `baton work`'s: a batch
  // of offers may take longer than a heartbeat, and its fence, not its time, keeps it safe.
  auto queue = OpenWithRetry<Queue>(
      [&] { return OpenQueue(common.store_url, Clock::Real(), {.store = common.store}); }, signals,
      unreachable);
  if (!queue) return ReportError(queue.error());
  if (!*queue) return kExitOk;
  auto source = OpenSource(*config, open);
  if (!source) return ReportError(source.error());
  WarnUnsafe(config->scheduler);
  const SchedulerOptions& s = config->scheduler;
  spdlog::info(
      "scheduler of queue \"{}\" of group \"{}\" on {}: lease {}, a round every {}, item ttl "
      "{}, tenants from {}",
      s.queue.queue, s.queue.group, (*queue)->Describe(), SchedulerLeaseName(s.queue.queue),
      FormatDuration(s.every), FormatDuration(s.item_ttl.value_or(s.every)), (*source)->Describe());

  if (*exporter) (*exporter)->WatchQueue(**queue, s.queue);
  ServiceHost host(**store,
                   {.id = common.id, .version = BATON_VERSION, .events = SinkOf(*exporter)});
  // Ready once registered: a passive scheduler may never run a round.
  if (auto added = host.AddScheduler(**queue, config->scheduler, **source, config->timing,
                                     notifier.AddLoop());
      !added) {
    return ReportError(added.error());
  }
  const detail::SignalWatcher watcher([&](int sig) {
    spdlog::info("received {}: stopping", strsignal(sig));
    notifier.Stopping();
    host.RequestStop();
  });
  Result<void> ran = host.Run();
  notifier.Stopping();
  const SchedulerCounters counters = host.scheduler_counters(0);
  spdlog::info(
      "stopped: {} rounds, {} offered, {} skipped, {} invalid ids, {} source errors, {} fenced "
      "out",
      counters.rounds, counters.offered, counters.skipped, counters.invalid, counters.source_errors,
      counters.fenced_out);
  if (!ran) return ReportError(ran.error());
  return kExitOk;
}

std::unique_ptr<Subcommand> DeclareSchedule(CLI::App& app) {
  auto schedule = std::make_unique<Subcommand>();
  CLI::App* a = schedule->app = app.add_subcommand(
      "schedule", "Hold the queue's scheduler lease and offer one item per tenant every --every");
  Settings& s = schedule->settings;
  AddCommonOptions(a, s);
  AddMetricsOption(a, s);
  s.Add(a, "queue", "The queue (within the group) to offer to (required)");
  s.Add(a, "every", "How often a round runs (default 45s)", OptionKind::kDuration);
  s.Add(a, "item-ttl", "Drop an item nobody claimed within this long (default --every)",
        OptionKind::kDuration);
  AddLeaseTimingOptions(a, s);
  s.Add(a, "tenants-file",
        "Tenant ids, one a line (# comments), read afresh each round (one source is required)");
  s.Add(a, "tenants-command",
        "A command (no shell; write sh -c '...' for one) that prints the ids, one a line (one "
        "source is required)");
  s.Add(a, "tenants-sql",
        "PostgreSQL: a query returning one column of ids, run read-only (one source is "
        "required)");
  s.Add(a, "tenants-timeout",
        "Bound on --tenants-command and --tenants-sql (default the shorter of 30s and --every)",
        OptionKind::kDuration);
  schedule->main = [](const Settings& settings, const std::vector<std::string>&) {
    return ScheduleCommand(settings);
  };
  DescribeSubcommand(
      a, {"baton schedule [OPTIONS] --queue Q (--tenants-file F | --tenants-command CMD | "
          "--tenants-sql SQL)",
          "baton schedule --group billing --queue tenant-sync --every 45s --tenants-file "
          "/etc/baton/tenants.txt"});
  return schedule;
}

}  // namespace baton::cli
