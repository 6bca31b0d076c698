#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <thread>

#include "baton/elector.h"
#include "child_supervisor.h"
#include "commands.h"
#include "core/signal_watcher.h"
#include "logging.h"
#include "metrics_setup.h"
#include "restart_policy.h"
#include "service_configs.h"
#include "service_notifier.h"
#include "store_url.h"

namespace baton::cli {
Result<Timing> ResolveRunTiming(const Settings& settings) {
  TimingOptions timing;
  auto ttl = settings.GetDuration("ttl");
  if (!ttl) return ttl.error();
  if (*ttl) timing.ttl = **ttl;
  for (const auto& [name, field] :
       {std::pair{"heartbeat", &timing.heartbeat}, std::pair{"grace", &timing.grace},
        std::pair{"margin", &timing.margin}}) {
    auto d = settings.GetDuration(name);
    if (!d) return d.error();
    *field = *d;
  }
  return ResolveTiming(timing, FlagNames());
}

Result<RunConfig> ResolveRunConfig(const Settings& settings,
                                   const std::vector<std::string>& command, bool need_command) {
  RunConfig config;
  auto common = ResolveCommon(settings, true);
  if (!common) return common.error();
  config.common = *common;
  auto resolved = ResolveRunTiming(settings);
  if (!resolved) return resolved.error();
  config.timing = *resolved;
  const std::string on_exit = settings.GetOr("on-exit", "release");
  if (on_exit != "release" && on_exit != "exit") {
    return Error(ErrorCode::kInvalidArgument,
                 settings.Source("on-exit") + " \"" + on_exit + "\" is not one of: release, exit");
  }
  config.exit_with_child = on_exit == "exit";
  if (auto priority = settings.GetInt("priority", 0, 1000000); !priority) {
    return priority.error();
  } else if (*priority) {
    config.priority = **priority;
  }
  config.passive_command = settings.Get("passive-command");
  if (config.passive_command && config.passive_command->empty()) {
    return Error(ErrorCode::kInvalidArgument, settings.Source("passive-command") + " is empty");
  }
  if (command.empty() && !need_command) return config;
  if (command.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "baton run needs a command after --, for example: baton run --group billing "
                 "-- ./sync --all");
  }
  // Found now, or the instance would win the lease only to fail to start it, again and again.
  if (auto found = FindExecutable(command[0]); !found) return found.error();
  config.command = command;
  return config;
}

namespace {

// What a user should know before the instance starts competing.
void LogStartupNotes(const RunConfig& config, const Store& store) {
  if (config.common.store_url == kDefaultStoreUrl) {
    spdlog::info("using the host's default store {} (--store names another)", store.Describe());
  }
  if (config.timing.heartbeat < config.timing.ttl / 100) {
    spdlog::warn(
        "--heartbeat {} is under 1/100 of --ttl {}: {} store writes a second that make no "
        "failover faster (the default heartbeat is ttl/5)",
        FormatDuration(config.timing.heartbeat), FormatDuration(config.timing.ttl),
        std::chrono::seconds(1) / config.timing.heartbeat);
  }
}

// The loop of `baton run`: signals, and the exits of the commands, until the elector is
// done; returns baton's exit code. The elector runs on another thread.
int HandleEvents(const RunConfig& config, Elector& elector, EventQueue<RunEvent>& events) {
  int exit_code = kExitOk;
  bool stopping = false;
  RestartPolicy policy(config.timing.heartbeat, config.exit_with_child);
  while (true) {
    RunEvent event = events.Pop();
    if (event.kind == RunEvent::Kind::kElectorDone) break;
    if (event.kind == RunEvent::Kind::kSignal) {
      if (!stopping) spdlog::info("received {}: stopping", strsignal(event.signal));
      stopping = true;
      elector.RequestStop();
      continue;
    }
    if (stopping) continue;
    if (!event.active_child) {
      // Stopped by us on becoming active is the normal end of a passive command.
      if (event.exit.kind != guardian::ExitKind::kTerminated) {
        spdlog::warn("the passive command {}", Describe(event.exit));
      }
      continue;
    }
    const bool current = elector.active() && elector.token() == event.token;
    if (event.exit.kind == guardian::ExitKind::kDeadline) {
      spdlog::warn(
          "the command (token {}) was stopped at its deadline: no renewal succeeded in time",
          event.token);
    } else if (current && event.exit.kind != guardian::ExitKind::kTerminated) {
      spdlog::warn("the command {} {} while active (token {})", config.command[0],
                   Describe(event.exit), event.token);
    }
    const ChildExitAction action = policy.OnActiveChildExit(event.exit, event.lived, current);
    if (action.kind == ChildExitAction::Kind::kExit) {
      exit_code = action.exit_code;
      stopping = true;
      elector.RequestStop();
    } else if (action.kind == ChildExitAction::Kind::kGiveUp) {
      if (action.hold_off > Duration::zero()) {
        spdlog::info("giving up the lease; competing again in {}", FormatDuration(action.hold_off));
      }
      elector.GiveUp(action.hold_off, action.why);
    }
  }
  return exit_code;
}

}  // namespace

int RunCommand(const Settings& settings, const std::vector<std::string>& command) {
  auto config = ResolveRunConfig(settings, command);
  if (!config) return ReportError(config.error());
  if (auto logging = SetUpLogging(config->common.log_format, config->common.id); !logging) {
    return ReportError(logging.error());
  }
  const sigset_t blocked = BlockStopSignals();
  // After the signals are blocked: the server's threads must not take a SIGTERM.
  auto exporter = StartMetrics(config->common);
  if (!exporter) return ReportError(exporter.error());

  const Common& common = config->common;
  ServiceNotifier notifier(common.store_url);
  notifier.Start();
  auto store = OpenWithRetry<Store>(
      [&] {
        return OpenStore(common.store_url, Clock::Real(),
                         {.store = common.store, .call_timeout = LeaseCallTimeout(config->timing)});
      },
      blocked, [&notifier](const Error& error) { notifier.StoreUnreachable(error); });
  if (!store) return ReportError(store.error());
  if (!*store) return kExitOk;  // Stopped by a signal while waiting for the store.
  LogStartupNotes(*config, **store);

  EventQueue<RunEvent> events;
  // Taken one at a time on the watcher's thread, so no handler ever runs in the middle of a
  // store call.
  const detail::SignalWatcher signals([&](int sig) {
    notifier.Stopping();
    RunEvent event;
    event.kind = RunEvent::Kind::kSignal;
    event.signal = sig;
    events.Push(event);
  });
  const MemberInfo self{config->common.id, NewHolder(config->common.id), LocalHostName(),
                        static_cast<int64_t>(getpid()), BATON_VERSION};
  const int exit_code =
      RunElected(*config, **store, self, events, notifier.AddLoop(), SinkOf(*exporter));
  notifier.Stopping();
  if (exit_code == kExitOk) spdlog::info("stopped");
  return exit_code;
}

int RunElected(const RunConfig& config, Store& store, const MemberInfo& self,
               EventQueue<RunEvent>& events, LoopObserver* observer, EventSink* sink) {
  ChildCommands commands;
  commands.active = config.command;
  commands.passive = config.passive_command;
  commands.base_env = InheritedEnvironment();
  commands.group = config.common.group;
  commands.instance_id = config.common.id;
  commands.grace = config.timing.grace;
  ChildSupervisor supervisor(commands, events);

  ElectorOptions options;
  options.lease = {config.common.group, kActiveLease};
  options.self = self;
  options.self.priority = config.priority;
  options.timing = config.timing;
  options.observer = observer;
  options.events = sink;
  Elector elector(store, options, supervisor);

  Result<void> elector_result;
  std::thread elector_thread([&] {
    elector_result = elector.Run();
    RunEvent done;
    done.kind = RunEvent::Kind::kElectorDone;
    events.Push(done);
  });
  supervisor.Prepare();

  const int exit_code = HandleEvents(config, elector, events);
  elector_thread.join();
  supervisor.StopAll();
  if (!elector_result) return ReportError(elector_result.error());
  return exit_code;
}

}  // namespace baton::cli
