// `baton serve --config FILE`: several hosted services in one process (SPEC 4), one per
// table of the file.
//
// Shape: the schedulers and workers are hosted services of one ServiceHost, as `baton
// schedule` hosts its scheduler; each [run.NAME] runs `baton run`'s own elected loop
// (RunElected: the elector, the ChildSupervisor and its guardians) on a thread of its own,
// beside the host. A run's loop owns its child's life (restart hold-off, --on-exit), which
// the host's callback model (a function that returns) does not express; running that loop
// unchanged keeps one implementation of 2.6 rather than two. They share the store
// connection, the queue connection and the holder identity, and one stop: a signal, or any
// service ending, stops them all, each in the order of SPEC 2.3.
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

#include "baton/service_host.h"
#include "commands.h"
#include "core/signal_watcher.h"
#include "item_command.h"
#include "logging.h"
#include "metrics_setup.h"
#include "serve_config.h"
#include "service_notifier.h"
#include "subcommand.h"

namespace baton::cli {
namespace {

// The one stop of every service: the first call stops them all, later calls do nothing.
class SharedStop final {
 public:
  SharedStop(ServiceHost& host, std::deque<EventQueue<RunEvent>>& runs, ServiceNotifier& notifier)
      : host_(host), runs_(runs), notifier_(notifier) {}
  void Stop() {
    std::call_once(once_, [this] {
      notifier_.Stopping();
      for (EventQueue<RunEvent>& events : runs_) {
        RunEvent event;
        event.kind = RunEvent::Kind::kSignal;
        event.signal = SIGTERM;
        events.Push(event);
      }
      host_.RequestStop();
    });
  }

 private:
  ServiceHost& host_;
  std::deque<EventQueue<RunEvent>>& runs_;
  ServiceNotifier& notifier_;
  std::once_flag once_;
};

// Lease connections must answer within the shortest lease's bound (LeaseCallTimeout).
Duration SharedCallTimeout(const ServePlan& plan) {
  Duration timeout = std::chrono::seconds(5);
  for (const auto& r : plan.runs) timeout = std::min(timeout, LeaseCallTimeout(r.config.timing));
  for (const auto& s : plan.schedules) {
    timeout = std::min(timeout, LeaseCallTimeout(s.config.resolved));
  }
  return timeout;
}

int Serve(const ServePlan& plan) {
  const sigset_t signals = BlockStopSignals();
  // After the signals are blocked: the server's threads must not take a SIGTERM.
  auto exporter = StartMetrics(plan.common);
  if (!exporter) return ReportError(exporter.error());
  const Common& common = plan.common;
  ServiceNotifier notifier(common.store_url);
  notifier.Start();
  const auto unreachable = [&notifier](const Error& error) { notifier.StoreUnreachable(error); };
  const OpenOptions open{.store = common.store, .call_timeout = SharedCallTimeout(plan)};
  auto store = OpenWithRetry<Store>(
      [&] { return OpenStore(common.store_url, Clock::Real(), open); }, signals, unreachable);
  if (!store) return ReportError(store.error());
  if (!*store) return kExitOk;  // Stopped by a signal while waiting for the store.
  std::unique_ptr<Queue> queue;
  if (!plan.schedules.empty() || !plan.works.empty()) {
    auto opened = OpenWithRetry<Queue>(
        [&] { return OpenQueue(common.store_url, Clock::Real(), {.store = common.store}); },
        signals, unreachable);
    if (!opened) return ReportError(opened.error());
    if (!*opened) return kExitOk;
    queue = std::move(*opened);
  }
  spdlog::info("serving {} on {}", DescribePlan(plan), (*store)->Describe());

  const MemberInfo self{common.id, NewHolder(common.id), LocalHostName(),
                        static_cast<int64_t>(getpid()), BATON_VERSION};
  ServiceHost host(**store, {.id = common.id,
                             .version = BATON_VERSION,
                             .holder = self.holder,
                             .events = SinkOf(*exporter)});
  std::vector<std::unique_ptr<TenantSource>> sources;
  for (const auto& s : plan.schedules) {
    auto source = OpenSource(s.config, open);
    if (!source) return ReportError(source.error());
    WarnUnsafe(s.config.scheduler);
    if (auto added = host.AddScheduler(*queue, s.config.scheduler, **source, s.config.timing,
                                       notifier.AddLoop(s.name));
        !added) {
      return ReportError(added.error());
    }
    sources.push_back(std::move(*source));
    if (*exporter) (*exporter)->WatchQueue(*queue, s.config.scheduler.queue);
  }
  std::vector<std::unique_ptr<ItemCommand>> item_commands;
  for (const auto& w : plan.works) {
    const ClaimTiming timing = *ResolveClaimTiming(w.config.worker.timing);
    item_commands.push_back(std::make_unique<ItemCommand>(w.config.command, InheritedEnvironment(),
                                                          timing.grace, Clock::Real()));
    ItemCommand* command = item_commands.back().get();
    WorkerOptions options = w.config.worker;
    options.observer = notifier.AddLoop(w.name);
    if (*exporter) (*exporter)->WatchQueue(*queue, options.queue);
    if (auto added = host.AddWorker(
            *queue, options, [command](ItemContext& context) { return command->Run(context); });
        !added) {
      return ReportError(added.error());
    }
  }

  std::deque<EventQueue<RunEvent>> run_events(plan.runs.size());
  SharedStop stop(host, run_events, notifier);
  const detail::SignalWatcher watcher([&stop](int sig) {
    spdlog::info("received {}: stopping every service", strsignal(sig));
    stop.Stop();
  });

  std::vector<LoopObserver*> run_loops;
  for (const auto& r : plan.runs) run_loops.push_back(notifier.AddLoop(r.name));
  std::vector<int> exit_codes(plan.runs.size(), kExitOk);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    threads.emplace_back([&, i] {
      exit_codes[i] = RunElected(plan.runs[i].config, **store, self, run_events[i], run_loops[i],
                                 SinkOf(*exporter));
      stop.Stop();  // One service ending ends the process: a supervisor restarts it whole.
    });
  }
  Result<void> hosted;
  if (!plan.schedules.empty() || !plan.works.empty()) {
    threads.emplace_back([&] {
      hosted = host.Run();
      stop.Stop();
    });
  }
  for (std::thread& t : threads) t.join();
  notifier.Stopping();
  if (!hosted) return ReportError(hosted.error());
  for (int code : exit_codes) {
    if (code != kExitOk) return code;
  }
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

int ServeCommand(const Settings& settings) {
  auto plan = LoadServePlan(settings);
  if (!plan) return ReportError(plan.error());
  if (settings.GetFlag("check")) {
    std::printf("%s is fine: %s\n", plan->config_path.c_str(), DescribePlan(*plan).c_str());
    return kExitOk;
  }
  if (auto logging = SetUpLogging(plan->common.log_format, plan->common.id); !logging) {
    return ReportError(logging.error());
  }
  return Serve(*plan);
}

std::unique_ptr<Subcommand> DeclareServe(CLI::App& app) {
  auto serve = std::make_unique<Subcommand>();
  CLI::App* a = serve->app =
      app.add_subcommand("serve", "Host several services in one process, one per config table");
  AddCommonOptions(a, serve->settings);
  AddMetricsOption(a, serve->settings);
  serve->settings.AddFlag(a, "check", "Check the config file, print its services, and exit");
  serve->main = [](const Settings& settings, const std::vector<std::string>&) {
    return ServeCommand(settings);
  };
  DescribeSubcommand(a, {"baton serve [OPTIONS] --config FILE [--check]",
                         "baton serve --config /etc/baton/serve.toml"});
  return serve;
}

}  // namespace baton::cli
