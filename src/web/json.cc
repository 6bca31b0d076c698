#include "json.h"

#include "baton/elector.h"

namespace baton::web {
namespace {

using std::chrono::system_clock;

int64_t Ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string Rfc3339(system_clock::time_point at) { return FormatUtc(at, "%Y-%m-%dT%H:%M:%SZ"); }

nlohmann::json TakeoverJson(const Takeover& t) {
  return {{"token", t.token},
          {"id", HolderId(t.holder)},
          {"holder", t.holder},
          {"cause", ToString(t.cause)},
          {"at", Rfc3339(t.at)}};
}

nlohmann::json QueueSummaryJson(const QueueSummary& q) {
  const QueueStats& s = q.stats;
  return {{"name", q.name},
          {"paused", s.paused},
          {"pending", s.pending},
          {"waiting", s.waiting},
          {"running", s.running},
          {"dead", s.dead},
          {"tenants_pending", s.tenants_pending},
          {"oldest_pending_age_ms",
           s.oldest_pending_age ? nlohmann::json(Ms(*s.oldest_pending_age)) : nlohmann::json()},
          {"done_total", s.done_total},
          {"failed_total", s.failed_total},
          {"dead_total", s.dead_total},
          {"expired_total", s.expired_total}};
}

nlohmann::json SummaryJson(const GroupSummary& g) {
  const GroupSnapshot& s = g.snapshot;
  nlohmann::json members = nlohmann::json::array();
  for (const Member& m : s.members) {
    members.push_back({{"id", m.info.id},
                       {"holder", m.info.holder},
                       {"host", m.info.host},
                       {"pid", m.info.pid},
                       {"version", m.info.version},
                       {"priority", m.info.priority},
                       {"role", ToString(m.role)},
                       {"since_heartbeat_ms", Ms(m.since_heartbeat)},
                       {"expires_in_ms", Ms(m.expires_in)},
                       {"started", Rfc3339(m.started)}});
  }
  nlohmann::json out = {{"name", g.name},     {"active", nullptr},
                        {"token", nullptr},   {"lease_remaining_ms", nullptr},
                        {"members", members}, {"last_takeover", nullptr}};
  if (!s.lease.free()) {
    out["active"] = HolderId(s.lease.holder);
    out["token"] = s.lease.token;
    out["lease_remaining_ms"] = Ms(s.lease.remaining);
  }
  if (g.last_takeover) out["last_takeover"] = TakeoverJson(*g.last_takeover);
  nlohmann::json queues = nlohmann::json::array();
  for (const QueueSummary& q : g.queues) queues.push_back(QueueSummaryJson(q));
  out["queues"] = queues;
  return out;
}

nlohmann::json ItemsJson(const std::vector<ItemView>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const ItemView& item : items) {
    out.push_back(
        {{"id", item.id},
         {"tenant", item.tenant},
         {"state", ToString(item.state)},
         {"attempts", item.attempts},
         {"claimed_by", item.claimed_by},
         {"claim_left_ms", Ms(item.claim_left)},
         {"last_error", item.last_error},
         {"exit_code", item.exit_code ? nlohmann::json(*item.exit_code) : nlohmann::json()},
         {"offered", Rfc3339(item.offered)}});
  }
  return out;
}

}  // namespace

nlohmann::json QueueJson(const QueueDetail& detail) {
  nlohmann::json minutes = nlohmann::json::array();
  for (const MinuteCounts& m : detail.minutes) {
    minutes.push_back(
        {{"minute", Rfc3339(m.minute)}, {"done", m.done}, {"failed", m.failed}, {"dead", m.dead}});
  }
  return {{"store", detail.store},
          {"at", Rfc3339(detail.now)},
          {"group", detail.group},
          {"queue", QueueSummaryJson(detail.queue)},
          {"running", ItemsJson(detail.running)},
          {"dead", ItemsJson(detail.dead)},
          {"next", ItemsJson(detail.next)},
          {"minutes", minutes}};
}

nlohmann::json OverviewJson(const Overview& overview) {
  nlohmann::json groups = nlohmann::json::array();
  for (const GroupSummary& g : overview.groups) groups.push_back(SummaryJson(g));
  return {{"store", overview.store}, {"at", Rfc3339(overview.now)}, {"groups", groups}};
}

nlohmann::json GroupJson(const GroupDetail& detail) {
  nlohmann::json takeovers = nlohmann::json::array();
  for (const Takeover& t : detail.takeovers) takeovers.push_back(TakeoverJson(t));
  return {{"store", detail.store},
          {"at", Rfc3339(detail.now)},
          {"group", SummaryJson(detail.group)},
          {"takeovers", takeovers}};
}

}  // namespace baton::web
