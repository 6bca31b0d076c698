// `baton status` and `baton migrate`.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "commands.h"
#include "status_view.h"
#include "store_url.h"
#include "watch_terminal.h"

namespace baton::cli {

int StatusCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, true);
  if (!common) return ReportError(common.error());
  const bool json = settings.GetFlag("json");
  const bool watch = settings.GetFlag("watch");
  auto store = OpenStore(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  if (!store) return ReportError(store.error());
  // The queues share the store; a store without queue tables yet shows none.
  auto queue = OpenQueue(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  Queue* queues = queue ? queue->get() : nullptr;
  if (!watch) {
    auto view = ReadStatus(**store, queues, common->group);
    if (!view) return ReportError(view.error());
    if (json) {
      std::printf("%s\n", ToJson(common->group, *view).dump().c_str());
    } else {
      PrintTable((*store)->Describe(), common->group, *view);
    }
    return view->snapshot.lease.free() ? kExitNoActive : kExitOk;
  }
  // Redraw in place on a terminal (q or Ctrl-C quits); a pipe or a file gets plain
  // snapshots, a blank line apart, until a signal.
  const bool terminal = isatty(STDOUT_FILENO) == 1 && !json;
  WatchTerminal keys;
  bool first = true;
  do {
    auto view = ReadStatus(**store, queues, common->group);
    if (!view) return ReportError(view.error());
    if (terminal) {
      std::printf("\033[H\033[2J");
    } else if (!first && !json) {
      std::printf("\n");
    }
    first = false;
    if (json) {
      std::printf("%s\n", ToJson(common->group, *view).dump().c_str());
    } else {
      PrintTable((*store)->Describe(), common->group, *view);
      if (terminal) std::printf("\nq or Ctrl-C quits\n");
    }
    std::fflush(stdout);
  } while (!keys.WaitForQuit(std::chrono::seconds(1)));
  return kExitOk;
}

int MigrateCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, false);
  if (!common) return ReportError(common.error());
  auto store = OpenStore(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = false, .store = common->store});
  // A missing or older schema is what migrate is for: opening with create_schema upgrades
  // it in one locked transaction. A newer one it cannot fix, and that open says so.
  const bool upgraded = !store && store.error().code() == ErrorCode::kSchemaMismatch;
  if (upgraded) {
    store = OpenStore(common->store_url, Clock::Real(),
                      {.create_schema = true, .must_exist = false, .store = common->store});
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
