// baton-queue-bench-worker: the stuck worker of baton-queue-bench's re-claim measurement.
// Runs one baton::Worker (1 slot) on a queue; the first item it claims it reports on standard
// output as "claimed ID SENT_NS" (CLOCK_BOOTTIME when the Worker sent the claim that took it,
// from the claim's deadline: sent + visibility − margin) and then
// blocks in the callback for good, ignoring its stop token, as a hung job would, until the
// benchmark SIGKILLs the process.
//
//   baton-queue-bench-worker --store-kind sqlite|postgresql --url PATH|URL --group G --queue Q
//                            --visibility-ms N

#include <unistd.h>

#include <cstdio>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "baton/worker.h"
#include "harness.h"
#include "queue_setup.h"

int main(int argc, char** argv) {
  using namespace baton;
  using namespace baton::bench;
  QueueTarget target;
  std::string location;
  QueueKey key;
  int visibility_ms = 2000;
  CLI::App app{"The stuck worker of baton-queue-bench (claims one item and blocks)",
               "baton-queue-bench-worker"};
  app.add_option("--store-kind", target.kind)
      ->required()
      ->check(CLI::IsMember({"sqlite", "postgresql"}));
  app.add_option("--url", location, "The SQLite file or the PostgreSQL URL")->required();
  app.add_option("--group", key.group)->required();
  app.add_option("--queue", key.queue)->required();
  app.add_option("--visibility-ms", visibility_ms)->check(CLI::PositiveNumber);
  ParseOrExit(app, argc, argv);
  (target.kind == "sqlite" ? target.path : target.url) = location;
  spdlog::set_level(spdlog::level::warn);

  std::unique_ptr<Queue> queue = OpenQueueOrExit(target);
  WorkerOptions options;
  options.queue = key;
  options.worker_id = "bench-stuck-" + std::to_string(getpid());
  options.concurrency = 1;
  options.timing.visibility = std::chrono::milliseconds(visibility_ms);
  Result<ClaimTiming> timing = ResolveClaimTiming(options.timing);
  if (!timing) {
    std::fprintf(stderr, "baton-queue-bench-worker: %s\n", timing.error().message().c_str());
    return 2;
  }
  const Duration before_deadline = timing->visibility - timing->margin;
  Worker worker(*queue, options, [before_deadline](ItemContext& item) -> WorkResult {
    const TimePoint sent = item.deadline() - before_deadline;
    std::printf("claimed %llu %lld\n", static_cast<unsigned long long>(item.item().id),
                static_cast<long long>(sent.time_since_epoch().count()));
    std::fflush(stdout);
    while (true) pause();  // Stuck; only SIGKILL ends it.
  });
  Result<void> result = worker.Run();
  if (!result) {
    std::fprintf(stderr, "baton-queue-bench-worker: %s\n", result.error().message().c_str());
    return 1;
  }
  return 0;
}
