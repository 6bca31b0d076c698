#pragma once

// The web page's data as JSON, under /api/ for scripts. Pure functions; any thread.
//
//   /api/groups        {"store", "groups": [{"name", "active", "token", "lease_remaining_ms",
//                       "members": [...], "last_takeover"}]}
//   /api/group?name=G  {"store", "group": {... as above}, "takeovers": [...]}
//
// A member is {"id", "holder", "host", "pid", "version", "priority", "role",
// "since_heartbeat_ms", "expires_in_ms", "started"}; a takeover {"token", "id", "holder",
// "cause", "at"}; times are RFC 3339 UTC, durations whole milliseconds; "active" and
// "last_takeover" are null when there is none.

#include <nlohmann/json.hpp>

#include "page_model.h"

namespace baton::web {

nlohmann::json OverviewJson(const Overview& overview);
nlohmann::json GroupJson(const GroupDetail& detail);

}  // namespace baton::web
