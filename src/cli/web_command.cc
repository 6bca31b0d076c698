// `baton web`: serves the page until SIGTERM, SIGINT or SIGHUP.
#include <signal.h>
#include <string.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "commands.h"
#include "html.h"
#include "server.h"

namespace baton::cli {

int WebCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, false);
  if (!common) return ReportError(common.error());
  const std::string listen = settings.GetOr("listen", web::kDefaultListen);
  if (const char* unsafe = std::getenv("BATON_UNSAFE_WEB_NO_ESCAPE");
      unsafe != nullptr && std::string(unsafe) == "1") {
    web::SetUnsafeNoEscape(true);
    spdlog::warn(
        "BATON_UNSAFE_WEB_NO_ESCAPE=1: the page shows the store's values unescaped and "
        "without a Content-Security-Policy (for tests only)");
  }
  if (auto r = web::CheckListenAddress(listen); !r) return ReportError(r.error());
  // Before the server's threads start, so that they inherit the mask and only sigwait sees
  // the signal.
  const sigset_t signals = BlockStopSignals();
  auto store = OpenStore(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  if (!store) return ReportError(store.error());
  // The queues share the store; a store without queue tables (etcd) shows none.
  auto queue = OpenQueue(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  auto server = web::WebServer::Start(**store, queue ? queue->get() : nullptr, listen);
  if (!server) return ReportError(server.error());
  spdlog::info("web page at http://{}/ for {} (read-only)", (*server)->address(),
               (*store)->Describe());
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("stopping on {}", strsignal(sig));
  return kExitOk;
}

}  // namespace baton::cli
