// `baton work`: claims items of one queue and runs a command per item (SPEC 3.2–3.8).
#include <signal.h>

#include <spdlog/spdlog.h>

#include <string.h>

#include "baton/worker.h"
#include "child_supervisor.h"
#include "commands.h"
#include "core/signal_watcher.h"
#include "item_command.h"
#include "logging.h"
#include "metrics_setup.h"
#include "service_configs.h"
#include "service_notifier.h"
#include "store_url.h"

namespace baton::cli {

Result<ClaimTimingOptions> ReadClaimTiming(const Settings& settings) {
  ClaimTimingOptions timing;
  auto visibility = settings.GetDuration("visibility");
  if (!visibility) return visibility.error();
  if (*visibility) timing.visibility = **visibility;
  for (const auto& [name, field] :
       {std::pair{"grace", &timing.grace}, std::pair{"margin", &timing.margin}}) {
    auto d = settings.GetDuration(name);
    if (!d) return d.error();
    *field = *d;
  }
  return timing;
}

Result<WorkConfig> ResolveWorkConfig(const Settings& settings,
                                     const std::vector<std::string>& command, bool need_command) {
  WorkConfig config;
  auto common = ResolveCommon(settings, true);
  if (!common) return common.error();
  config.common = *common;
  auto queue = ResolveQueueName(settings);
  if (!queue) return queue.error();
  WorkerOptions& w = config.worker;
  w.queue = {config.common.group, *queue};
  w.worker_id = config.common.id;
  // Per-item commands run under a guardian that kills them by the claim's deadline, so the
  // process need not exit for them.
  w.exit_on_overrun = false;
  if (auto n = settings.GetInt("concurrency", 1, kMaxClaimItems); !n) {
    return n.error();
  } else if (*n) {
    w.concurrency = static_cast<int>(**n);
  }
  if (auto n = settings.GetInt("max-attempts", 1, 1000); !n) {
    return n.error();
  } else if (*n) {
    w.max_attempts = static_cast<int>(**n);
  }
  for (const auto& [name, field] :
       {std::pair{"timeout", &w.timeout}, std::pair{"backoff", &w.backoff},
        std::pair{"backoff-max", &w.backoff_max}, std::pair{"poll", &w.poll}}) {
    auto d = settings.GetDuration(name);
    if (!d) return d.error();
    if (*d) *field = **d;
  }
  auto timing = ReadClaimTiming(settings);
  if (!timing) return timing.error();
  w.timing = *timing;
  if (auto valid = Worker::Validate(w, FlagNames()); !valid) return valid.error();
  if (command.empty() && !need_command) return config;
  if (command.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "baton work needs a command after --, run once per item, for example: baton "
                 "work --group billing --queue sync -- ./sync-tenant");
  }
  if (auto found = FindExecutable(command[0]); !found) return found.error();
  config.command = command;
  return config;
}

int WorkCommand(const Settings& settings, const std::vector<std::string>& command) {
  auto config = ResolveWorkConfig(settings, command);
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
  auto queue = OpenWithRetry<Queue>(
      [&] { return OpenQueue(common.store_url, Clock::Real(), {.store = common.store}); }, signals,
      [&notifier](const Error& error) { notifier.StoreUnreachable(error); });
  if (!queue) return ReportError(queue.error());
  if (!*queue) return kExitOk;  // Stopped by a signal while waiting for the store.
  const ClaimTiming timing = *ResolveClaimTiming(config->worker.timing);
  spdlog::info("working on queue \"{}\" of group \"{}\" on {}: {} slot(s), visibility {}",
               config->worker.queue.queue, config->worker.queue.group, (*queue)->Describe(),
               config->worker.concurrency, FormatDuration(timing.visibility));

  const ItemCommand item_command(config->command, InheritedEnvironment(), timing.grace,
                                 Clock::Real());
  WorkerOptions options = config->worker;
  options.observer = notifier.AddLoop();
  options.events = SinkOf(*exporter);
  if (*exporter) (*exporter)->WatchQueue(**queue, options.queue);
  Worker worker(**queue, options,
                [&item_command](ItemContext& context) { return item_command.Run(context); });
  const detail::SignalWatcher watcher([&](int sig) {
    spdlog::info("received {}: stopping (no new claims; running items get SIGTERM)",
                 strsignal(sig));
    notifier.Stopping();
    worker.RequestStop();
  });
  Result<void> ran = worker.Run();
  notifier.Stopping();
  const WorkerCounters counters = worker.counters();
  spdlog::info("stopped: {} claimed, {} done, {} failed, {} dead, {} released, {} stale",
               counters.claimed, counters.done, counters.failed, counters.dead, counters.released,
               counters.stale);
  if (!ran) return ReportError(ran.error());
  return kExitOk;
}

}  // namespace baton::cli
