// `baton queue`: looks at and administers one queue (SPEC 3.10).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "commands.h"
#include "output.h"
#include "store_url.h"

namespace baton::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

nlohmann::json OptionalIso(const std::optional<std::chrono::system_clock::time_point>& tp) {
  return tp ? nlohmann::json(Iso(*tp)) : nlohmann::json(nullptr);
}

// One line of an error for a table: no newlines, at most 60 bytes.
std::string Short(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  if (out.size() > 60) out = out.substr(0, 57) + "...";
  return out;
}

Result<uint64_t> ParseId(const std::vector<std::string>& args, const std::string& action) {
  if (args.size() != 2) return Invalid("baton queue " + action + " needs one item id");
  char* end = nullptr;
  const unsigned long long id = std::strtoull(args[1].c_str(), &end, 10);
  if (args[1].empty() || *end != '\0' || id == 0) {
    return Invalid("\"" + args[1] + "\" is not an item id (a positive whole number)");
  }
  return static_cast<uint64_t>(id);
}

nlohmann::json ItemJson(const ItemView& item) {
  return {{"id", item.id},
          {"tenant", item.tenant},
          {"state", ToString(item.state)},
          {"priority", item.priority},
          {"attempts", item.attempts},
          {"offered", Iso(item.offered)},
          {"ready_in_ms", Ms(item.ready_in)},
          {"claim_left_ms", Ms(item.claim_left)},
          {"claimed_by", item.claimed_by},
          {"last_error", item.last_error},
          {"exit_code", item.exit_code ? nlohmann::json(*item.exit_code) : nlohmann::json(nullptr)},
          {"payload_bytes", item.payload.size()}};
}

// What an action did: `object` as one JSON line with --json, else `text`.
void Say(bool json, const nlohmann::json& object, const std::string& text) {
  std::printf("%s\n", json ? object.dump().c_str() : text.c_str());
}

void PrintItems(const std::vector<ItemView>& items, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const ItemView& item : items) out.push_back(ItemJson(item));
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("%-10s %-24s %-9s %-8s %-8s %-10s %s\n", "ID", "TENANT", "STATE", "ATTEMPTS",
              "PRIORITY", "TIME", "LAST ERROR");
  for (const ItemView& item : items) {
    const std::string time =
        item.state == ItemState::kPending
            ? (item.ready_in > Duration::zero()
                   ? "in " + FormatDuration(duration_cast<milliseconds>(item.ready_in))
                   : "ready")
            : (item.state == ItemState::kDead
                   ? "-"
                   : FormatDuration(duration_cast<milliseconds>(item.claim_left)) + " left");
    std::printf("%-10llu %-24s %-9s %-8d %-8d %-10s %s\n", static_cast<unsigned long long>(item.id),
                item.tenant.c_str(), ToString(item.state), item.attempts, item.priority,
                time.c_str(),
                Short(item.last_error +
                      (item.exit_code ? " (exit " + std::to_string(*item.exit_code) + ")" : ""))
                    .c_str());
  }
  if (items.empty()) std::printf("(no items)\n");
}

void PrintStats(const QueueKey& key, const std::string& store, const QueueStats& stats, bool json) {
  if (json) {
    nlohmann::json tenants = nlohmann::json::array();
    for (const TenantStats& t : stats.tenants) {
      tenants.push_back({{"tenant", t.tenant},
                         {"last_success", OptionalIso(t.last_success)},
                         {"last_failure", OptionalIso(t.last_failure)},
                         {"last_error", t.last_error}});
    }
    const nlohmann::json out = {
        {"group", key.group},
        {"queue", key.queue},
        {"paused", stats.paused},
        {"depth",
         {{"pending", stats.pending},
          {"waiting", stats.waiting},
          {"running", stats.running},
          {"dead", stats.dead}}},
        {"tenants_pending", stats.tenants_pending},
        {"oldest_pending_ms", stats.oldest_pending_age
                                  ? nlohmann::json(Ms(*stats.oldest_pending_age))
                                  : nlohmann::json(nullptr)},
        {"totals",
         {{"done", stats.done_total},
          {"failed", stats.failed_total},
          {"dead", stats.dead_total},
          {"expired", stats.expired_total}}},
        {"tenants", tenants}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("queue %s of group %s on %s%s\n", key.queue.c_str(), key.group.c_str(), store.c_str(),
              stats.paused ? " (paused)" : "");
  std::printf("depth: %lld pending, %lld waiting (delayed or retrying), %lld running, %lld dead\n",
              static_cast<long long>(stats.pending), static_cast<long long>(stats.waiting),
              static_cast<long long>(stats.running), static_cast<long long>(stats.dead));
  std::printf("tenants with pending items: %lld; oldest pending: %s\n",
              static_cast<long long>(stats.tenants_pending),
              stats.oldest_pending_age
                  ? FormatDuration(duration_cast<milliseconds>(*stats.oldest_pending_age)).c_str()
                  : "none");
  std::printf("totals: %lld done, %lld failed attempts, %lld dead, %lld expired\n",
              static_cast<long long>(stats.done_total), static_cast<long long>(stats.failed_total),
              static_cast<long long>(stats.dead_total),
              static_cast<long long>(stats.expired_total));
  if (stats.tenants.empty()) return;
  std::printf("\n%-24s %-21s %-21s %s\n", "TENANT", "LAST SUCCESS", "LAST FAILURE", "LAST ERROR");
  for (const TenantStats& t : stats.tenants) {
    std::printf("%-24s %-21s %-21s %s\n", t.tenant.c_str(),
                t.last_success ? Iso(*t.last_success).c_str() : "-",
                t.last_failure ? Iso(*t.last_failure).c_str() : "-", Short(t.last_error).c_str());
  }
}

constexpr const char* kActions =
    "stats, list, dead, requeue ID, requeue --all-dead, cancel ID, purge, pause or resume";

}  // namespace

int QueueCommand(const Settings& settings, const std::vector<std::string>& args) {
  auto common = ResolveCommon(settings, true);
  if (!common) return ReportError(common.error());
  auto name = ResolveQueueName(settings);
  if (!name) return ReportError(name.error());
  if (args.empty()) return ReportError(Invalid(std::string("name an action: ") + kActions));
  const std::string& action = args[0];
  const bool json = settings.GetFlag("json");
  const QueueKey key{common->group, *name};
  const auto limit = settings.GetInt("limit", 1, 1000000);
  if (!limit) return ReportError(limit.error());
  const int max_rows = limit->value_or(100);
  if (action != "requeue" && action != "cancel" && args.size() > 1) {
    return ReportError(Invalid("baton queue " + action + " takes no argument \"" + args[1] + "\""));
  }
  std::optional<ItemState> state;
  if (auto s = settings.Get("state")) {
    if (action != "list") return ReportError(Invalid("--state applies to baton queue list only"));
    for (ItemState candidate :
         {ItemState::kPending, ItemState::kRunning, ItemState::kCancelled, ItemState::kDead}) {
      if (*s == ToString(candidate)) state = candidate;
    }
    if (!state) {
      return ReportError(
          Invalid("--state \"" + *s + "\" is not one of: pending, running, cancelled, dead"));
    }
  }
  static const std::vector<std::string> kKnown = {"stats",  "list",  "dead",  "requeue",
                                                  "cancel", "purge", "pause", "resume"};
  if (std::find(kKnown.begin(), kKnown.end(), action) == kKnown.end()) {
    return ReportError(Invalid("unknown action \"" + action + "\": use " + kActions));
  }
  // Every argument is checked before the store is opened.
  const bool all_dead = settings.GetFlag("all-dead");
  if (all_dead && (action != "requeue" || args.size() > 1)) {
    return ReportError(Invalid("--all-dead goes with requeue alone, without an item id"));
  }
  uint64_t item_id = 0;
  if (action == "cancel" || (action == "requeue" && !all_dead)) {
    auto id = ParseId(args, action);
    if (!id) return ReportError(id.error());
    item_id = *id;
  }
  auto queue = OpenQueue(common->store_url, Clock::Real(),
                         {.create_schema = false, .must_exist = true, .store = common->store});
  if (!queue) return ReportError(queue.error());
  Queue& q = **queue;

  if (action == "stats") {
    auto stats = q.Stats(key);
    if (!stats) return ReportError(stats.error());
    PrintStats(key, q.Describe(), *stats, json);
  } else if (action == "list" || action == "dead") {
    auto items = action == "list" ? q.List(key, state, max_rows) : q.DeadLetters(key, max_rows);
    if (!items) return ReportError(items.error());
    PrintItems(*items, json);
  } else if (action == "requeue") {
    if (all_dead) {
      auto n = q.RequeueDead(key);
      if (!n) return ReportError(n.error());
      Say(json, {{"requeued", *n}}, "requeued " + std::to_string(*n) + " dead item(s)");
    } else {
      auto done = q.Requeue(key, item_id);
      if (!done) return ReportError(done.error());
      const std::string id = std::to_string(item_id);
      if (!*done) {
        Say(json, {{"requeued", 0}, {"item", item_id}},
            "item " + id + " is not in the dead letters of queue " + key.queue +
                ": nothing requeued");
        return kExitUsage;
      }
      Say(json, {{"requeued", 1}, {"item", item_id}}, "requeued item " + id);
    }
  } else if (action == "cancel") {
    auto outcome = q.Cancel(key, item_id);
    if (!outcome) return ReportError(outcome.error());
    const std::string id = std::to_string(item_id);
    switch (*outcome) {
      case CancelOutcome::kNotFound:
        Say(json, {{"item", item_id}, {"outcome", "not_found"}},
            "item " + id + " is not in queue " + key.queue);
        return kExitUsage;
      case CancelOutcome::kRemoved:
        Say(json, {{"item", item_id}, {"outcome", "removed"}},
            "cancelled item " + id + ": removed");
        break;
      case CancelOutcome::kCancelling:
        Say(json, {{"item", item_id}, {"outcome", "cancelling"}},
            "cancelled item " + id +
                ": it is running; its work is stopped, and its tenant is free once that has "
                "happened");
        break;
    }
  } else if (action == "purge") {
    auto purged = q.Purge(key);
    if (!purged) return ReportError(purged.error());
    Say(json, {{"removed", purged->removed}, {"cancelled", purged->cancelled}},
        "purged queue " + key.queue + ": " + std::to_string(purged->removed) +
            " item(s) removed, " + std::to_string(purged->cancelled) +
            " running item(s) cancelled");
  } else if (action == "pause" || action == "resume") {
    auto done = action == "pause" ? q.Pause(key) : q.Resume(key);
    if (!done) return ReportError(done.error());
    Say(json, {{"queue", key.queue}, {"paused", action == "pause"}},
        "queue " + key.queue + " " +
            (action == "pause" ? "paused: workers stop claiming; running items finish"
                               : "resumed"));
  }
  return kExitOk;
}

}  // namespace baton::cli
