#pragma once

#include <string>

#include "baton/result.h"

namespace baton::cli {

// Sends the library's log lines (spdlog's default logger) to stderr, one line per event,
// as text or as JSON objects, each with the instance id. `format` is "text" or "json".
Result<void> SetUpLogging(const std::string& format, const std::string& instance_id);

// Whether SetUpLogging() chose JSON: then every line on stderr, errors included, must be a
// JSON object, or a log collector reading them would drop the one that says why baton
// stopped.
bool JsonLogging();

}  // namespace baton::cli
