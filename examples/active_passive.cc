// A service with an active and a passive part, elected through a SQLite file. Start it in
// several terminals; stop or kill the active one and watch another take over.
//
//   build/default/examples/baton-example-active-passive /tmp/example.db
#include <baton/service_host.h>
#include <baton/sqlite_store.h>

#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  baton::SqliteStoreOptions options;
  options.path = argc > 1 ? argv[1] : "example.db";
  auto store = baton::OpenSqliteStore(options);
  if (!store) {
    std::fprintf(stderr, "example: %s\n", store.error().message().c_str());
    return 2;
  }
  baton::ServiceHost host(**store);
  host.StopOnSignals();  // Before any thread starts.

  baton::HostedService service;
  service.group = "example";
  service.timing.ttl = std::chrono::seconds(3);
  service.active = [](baton::ActiveContext& ctx) {
    while (!ctx.stop_token().stop_requested()) {
      // Real work would carry ctx.token() into every write it makes (fencing).
      std::printf(
          "%s active, token %llu, %lld ms left on the lease\n", ctx.instance_id().c_str(),
          static_cast<unsigned long long>(ctx.token()),
          static_cast<long long>(
              std::chrono::duration_cast<std::chrono::milliseconds>(ctx.TimeLeft()).count()));
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  };
  service.passive = [](baton::PassiveContext& ctx) {
    std::printf("%s passive, waiting\n", ctx.instance_id().c_str());
    std::fflush(stdout);
  };
  if (auto added = host.Add(service); !added) {
    std::fprintf(stderr, "example: %s\n", added.error().message().c_str());
    return 2;
  }
  if (auto ran = host.Run(); !ran) {
    std::fprintf(stderr, "example: %s\n", ran.error().message().c_str());
    return 1;
  }
  return 0;
}
