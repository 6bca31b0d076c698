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
  return out;
}

}  // namespace

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
