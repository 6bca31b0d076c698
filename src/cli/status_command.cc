#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "commands.h"
#include "output.h"
#include "store_url.h"

namespace baton::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// The id part of a holder identity ("<id>/<nonce>").
std::string IdOf(const std::string& holder) { return holder.substr(0, holder.rfind('/')); }

// The lease decides who is active; a member row's own role is one heartbeat behind it.
const char* RoleOf(const Member& m, const LeaseView& lease) {
  return !lease.free() && m.info.holder == lease.holder ? "active" : "passive";
}

nlohmann::json ToJson(const std::string& group, const GroupSnapshot& snapshot) {
  const LeaseView& lease = snapshot.lease;
  const bool active = !lease.free();
  nlohmann::json members = nlohmann::json::array();
  nlohmann::json active_pid = nullptr;
  for (const Member& m : snapshot.members) {
    if (active && m.info.holder == lease.holder) active_pid = m.info.pid;
    members.push_back({{"id", m.info.id},
                       {"host", m.info.host},
                       {"pid", m.info.pid},
                       {"version", m.info.version},
                       {"role", RoleOf(m, lease)},
                       {"started", Iso(m.started)},
                       {"last_heartbeat_ms_ago", Ms(m.since_heartbeat)},
                       {"expires_in_ms", Ms(m.expires_in)}});
  }
  return {{"group", group},
          {"active", active ? nlohmann::json(IdOf(lease.holder)) : nlohmann::json(nullptr)},
          // The active baton's process id on its host (null when none is active).
          {"active_pid", active_pid},
          {"lease",
           {{"holder", active ? nlohmann::json(IdOf(lease.holder)) : nlohmann::json(nullptr)},
            {"token", lease.token},
            {"renewals", lease.renewals},
            {"remaining_ms", active ? Ms(lease.remaining) : 0}}},
          {"members", members}};
}

void PrintTable(const std::string& store, const std::string& group, const GroupSnapshot& snapshot) {
  const LeaseView& lease = snapshot.lease;
  std::printf("group %s on %s\n", group.c_str(), store.c_str());
  if (lease.free()) {
    std::printf("active: none (last token %llu)\n", static_cast<unsigned long long>(lease.token));
  } else {
    std::printf("active: %s  token %llu  renewals %llu  lease expires in %s\n",
                IdOf(lease.holder).c_str(), static_cast<unsigned long long>(lease.token),
                static_cast<unsigned long long>(lease.renewals),
                FormatDuration(duration_cast<milliseconds>(lease.remaining)).c_str());
  }
  std::printf("\n%-36s %-8s %-16s %-8s %-8s %-21s %-10s %s\n", "ID", "ROLE", "HOST", "PID",
              "VERSION", "STARTED", "HEARTBEAT", "EXPIRES IN");
  for (const Member& m : snapshot.members) {
    std::printf("%-36s %-8s %-16s %-8lld %-8s %-21s %-10s %s\n", m.info.id.c_str(),
                RoleOf(m, lease), m.info.host.c_str(), static_cast<long long>(m.info.pid),
                m.info.version.c_str(), Iso(m.started).c_str(),
                (FormatDuration(duration_cast<milliseconds>(m.since_heartbeat)) + " ago").c_str(),
                FormatDuration(duration_cast<milliseconds>(m.expires_in)).c_str());
  }
  if (snapshot.members.empty()) std::printf("(no members)\n");
}

}  // namespace

int StatusCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, true);
  if (!common) return ReportError(common.error());
  const bool json = settings.GetFlag("json");
  const bool watch = settings.GetFlag("watch");
  auto store =
      OpenStore(common->store_url, Clock::Real(),
                {.create_schema = false, .must_exist = true, .pg_schema = common->pg_schema});
  if (!store) return ReportError(store.error());
  const bool terminal = isatty(STDOUT_FILENO) == 1;
  bool first = true;
  while (true) {
    auto snapshot = (*store)->Snapshot(common->group);
    if (!snapshot) return ReportError(snapshot.error());
    // Redraw in place on a terminal; a pipe or a file gets plain snapshots, a blank line apart.
    if (watch && !json && terminal) std::printf("\033[H\033[2J");
    if (watch && !json && !terminal && !first) std::printf("\n");
    first = false;
    if (json) {
      std::printf("%s\n", ToJson(common->group, *snapshot).dump().c_str());
    } else {
      PrintTable((*store)->Describe(), common->group, *snapshot);
    }
    std::fflush(stdout);
    if (!watch) return snapshot->lease.free() ? kExitNoActive : kExitOk;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int MigrateCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, false);
  if (!common) return ReportError(common.error());
  auto store =
      OpenStore(common->store_url, Clock::Real(),
                {.create_schema = false, .must_exist = false, .pg_schema = common->pg_schema});
  // A missing or older schema is what migrate is for: opening with create_schema upgrades
  // it in one locked transaction. A newer one it cannot fix, and that open says so.
  const bool upgraded = !store && store.error().code() == ErrorCode::kSchemaMismatch;
  if (upgraded) {
    store = OpenStore(common->store_url, Clock::Real(),
                      {.create_schema = true, .must_exist = false, .pg_schema = common->pg_schema});
  }
  if (!store) return ReportError(store.error());
  auto migrated = (*store)->Migrate();
  if (!migrated) return ReportError(migrated.error());
  if (!upgraded && migrated->found == migrated->current) {
    std::printf("%s: schema is at version %d, nothing to do\n", (*store)->Describe().c_str(),
                migrated->current);
  } else {
    std::printf("%s: schema is now at version %d\n", (*store)->Describe().c_str(),
                migrated->current);
  }
  return kExitOk;
}

}  // namespace baton::cli
