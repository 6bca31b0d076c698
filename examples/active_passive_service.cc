// The first source document done right: a service with an active job, a passive job and
// registration, elected through one SQLite file. Start it several times; exactly one copy is
// active. Each copy registers itself as a member on start, renews its row with every heartbeat,
// deletes it on a clean exit, and a crashed copy's row is removed by the others once it
// expires. Kill the active copy (even with SIGKILL) and another takes over within the ttl.
//
//   build/default/examples/baton-example-active-passive-service /tmp/example.db a
//   build/default/examples/baton-example-active-passive-service /tmp/example.db b
#include <baton/service_host.h>
#include <baton/sqlite_store.h>

#include <cstdio>
#include <string>
#include <thread>

namespace {

constexpr const char* kGroup = "example";

// The member rows as the store sees them now: "a active, b passive".
std::string Members(baton::Store& store) {
  auto snapshot = store.Snapshot(kGroup);
  if (!snapshot) return "(store: " + snapshot.error().message() + ")";
  std::string out;
  for (const baton::Member& m : snapshot->members) {
    if (!out.empty()) out += ", ";
    out += m.info.id + " " + baton::ToString(m.role);
  }
  return out;
}

// Prints one line a second until `stop` is requested: the job's own loop.
template <typename Line>
void EverySecond(const std::stop_token& stop, Line line) {
  while (!stop.stop_requested()) {
    std::printf("%s\n", line().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int main(int argc, char** argv) {
  baton::SqliteStoreOptions options;
  options.path = argc > 1 ? argv[1] : "example.db";
  auto store = baton::OpenSqliteStore(options);
  if (!store) {
    std::fprintf(stderr, "example: %s\n", store.error().message().c_str());
    return 2;
  }
  baton::HostOptions host_options;
  if (argc > 2) host_options.id = argv[2];  // Default: <host>-<pid>-<random hex>.
  baton::ServiceHost host(**store, host_options);
  host.StopOnSignals();  // Before any thread starts.

  baton::Store& members = **store;
  baton::HostedService service;
  service.group = kGroup;
  // A crashed active copy's lease and member row live this long: the takeover time.
  service.timing.ttl = std::chrono::seconds(3);
  service.active = [&members](baton::ActiveContext& ctx) {
    // Real work would carry ctx.token() into every write it makes (README "Fenced data").
    EverySecond(ctx.stop_token(), [&] {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.TimeLeft());
      return ctx.instance_id() + " active, token " + std::to_string(ctx.token()) + ", " +
             std::to_string(left.count()) + " ms left; members: " + Members(members);
    });
  };
  service.passive = [&members](baton::PassiveContext& ctx) {
    EverySecond(ctx.stop_token(),
                [&] { return ctx.instance_id() + " passive; members: " + Members(members); });
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
