#pragma once

// The web page's data as JSON, under /api/ for scripts. Pure functions; any thread.
//
//   /api/groups        {"store", "groups": [{"name", "active", "token", "lease_remaining_ms",
//                       "members": [...], "last_takeover", "queues": [...]}]}
//   /api/group?name=G  {"store", "group": {... as above}, "takeovers": [...]}
//   /api/queue?group=G&name=Q
//                      {"store", "group", "queue": {"name", "paused", "pending", "waiting",
//                       "running", "dead", "tenants_pending", "oldest_pending_age_ms",
//                       "done_total", "failed_total", "dead_total", "expired_total"},
//                       "running", "dead", "next": [item...], "minutes": [{"minute", "done",
//                       "failed", "dead"}]}
//
// A member is {"id", "holder", "host", "pid", "version", "priority", "role",
// "since_heartbeat_ms", "expires_in_ms", "started"}; a takeover {"token", "id", "holder",
// "cause", "at"}; an item {"id", "tenant", "state", "attempts", "claimed_by", "claim_left_ms",
// "last_error", "exit_code", "offered"} (not its payload); times are RFC 3339 UTC, durations whole
// milliseconds; "active" and "last_takeover" are null when there is none.

#include <nlohmann/json.hpp>

#include "page_model.h"

namespace baton::web {

nlohmann::json OverviewJson(const Overview& overview);
nlohmann::json GroupJson(const GroupDetail& detail);
nlohmann::json QueueJson(const QueueDetail& detail);

}  // namespace baton::web
