#pragma once

#include <string>

#include "baton/result.h"

namespace baton::cli {

// Sends the library's log lines (spdlog's default logger) to stderr, one line per event,
// as text or as JSON objects, each with the instance id. `format` is "text" or "json".
Result<void> SetUpLogging(const std::string& format, const std::string& instance_id);

}  // namespace baton::cli
