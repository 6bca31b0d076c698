// `baton step-down [--to ID]`: moves the group's active role now, through the store (SPEC 6).
// The active instance is asked to hand over (Store::RequestHandover) and woken; it stops its
// command and releases as on SIGTERM, and another member (or the one named) takes over. The
// command waits until that has happened and says who is active now.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "baton/elector.h"
#include "commands.h"
#include "output.h"
#include "store_url.h"
#include "subcommand.h"

namespace baton::cli {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Waits until the lease has a holder with a token after `asked`: the new active instance.
// The holder acts at once when woken, and within a heartbeat when not; a named member has
// the lease to itself for twice the remaining time when asked.
int WaitForHandover(Store& store, const std::string& group, const LeaseView& asked,
                    steady_clock::time_point started) {
  const steady_clock::time_point give_up = started + 2 * asked.remaining + std::chrono::seconds(3);
  LeaseView seen = asked;
  while (steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(5));
    Result<GroupSnapshot> snapshot = store.Snapshot(group);
    if (!snapshot) continue;  // Retried until give_up: the request itself is recorded.
    seen = snapshot->lease;
    if (!seen.free() && seen.token > asked.token) {
      const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - started);
      std::printf("%s (token %llu) stepped down; %s is active with token %llu (%lld ms)\n",
                  HolderId(asked.holder).c_str(), static_cast<unsigned long long>(asked.token),
                  HolderId(seen.holder).c_str(), static_cast<unsigned long long>(seen.token),
                  static_cast<long long>(took.count()));
      return kExitOk;
    }
  }
  if (seen.token == asked.token && !seen.free()) {
    return ReportError(Error(ErrorCode::kUnavailable,
                             HolderId(asked.holder) + " (token " + std::to_string(asked.token) +
                                 ") was asked to step down but still holds the lease: an "
                                 "older baton ignores the request"));
  }
  return ReportError(Error(ErrorCode::kUnavailable, HolderId(asked.holder) +
                                                        " stepped down, but no instance of group " +
                                                        group + " has taken over yet"));
}

}  // namespace

int StepDownCommand(const Settings& settings) {
  auto common = ResolveCommon(settings, true);
  if (!common) return ReportError(common.error());
  HandoverRequest request;
  request.lease = {.group = common->group, .name = kActiveLease};
  if (auto to = settings.Get("to")) {
    if (auto valid = ValidateName(settings.Source("to"), *to); !valid) {
      return ReportError(valid.error());
    }
    request.to = *to;
  }
  auto store = OpenStore(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  if (!store) return ReportError(store.error());
  const steady_clock::time_point started = steady_clock::now();
  Result<HandoverReply> reply = (*store)->RequestHandover(request);
  if (!reply) return ReportError(reply.error());
  const std::string active = HolderId(reply->lease.holder);
  switch (reply->outcome) {
    case HandoverOutcome::kRequested:
      return WaitForHandover(**store, common->group, reply->lease, started);
    case HandoverOutcome::kNoHolder:
      std::fprintf(stderr, "baton: group %s has no active instance: nothing to step down\n",
                   common->group.c_str());
      return kExitNoActive;
    case HandoverOutcome::kUnknownTarget:
      return ReportError(
          Error(ErrorCode::kInvalidArgument,
                settings.Source("to") + " " + request.to + " is not a live member of group " +
                    common->group + " other than the active instance " + active +
                    " (baton status --group " + common->group + " lists the members)"));
    case HandoverOutcome::kNoOtherMember:
    case HandoverOutcome::kNotLower:
      break;
  }
  return ReportError(Error(ErrorCode::kUnavailable, "no other live instance of group " +
                                                        common->group + " could take over from " +
                                                        active + ": nothing done"));
}

std::unique_ptr<Subcommand> DeclareStepDown(CLI::App& app) {
  auto sub = std::make_unique<Subcommand>();
  sub->app = app.add_subcommand("step-down",
                                "Move the group's active role now: the active instance hands over");
  AddCommonOptions(sub->app, sub->settings);
  sub->settings.Add(sub->app, "to",
                    "The member id that takes over (default: whichever other member is first)");
  sub->main = [](const Settings& s, const std::vector<std::string>&) { return StepDownCommand(s); };
  DescribeSubcommand(
      sub->app, {"baton step-down [OPTIONS]", "baton step-down --group billing-sync --to web-2",
                 /*exit_code_3=*/true});
  return sub;
}

}  // namespace baton::cli
