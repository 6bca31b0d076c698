#include "common.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "baton/elector.h"
#include "logging.h"
#include "store_url.h"

namespace baton::cli {

void AddCommonOptions(CLI::App* app, Settings& settings) {
  settings.Add(app, "store", "Store URL: sqlite:PATH (default sqlite:baton.db)");
  settings.Add(app, "group", "The service's group: the instances that elect one active");
  settings.Add(app, "id", "This instance's id (default <host>-<pid>-<random hex>)");
  settings.Add(app, "config", "A TOML file with option values (flag > environment > file)");
  settings.Add(app, "log-format", "text (default) or json");
  settings.Add(app, "pg-schema",
               "The PostgreSQL schema of baton's tables (default baton); a separate store");
}

Result<Common> ResolveCommon(const Settings& settings, bool need_group) {
  Common common;
  common.store_url = settings.GetOr("store", kDefaultStoreUrl);
  common.log_format = settings.GetOr("log-format", "text");
  if (auto group = settings.Get("group")) {
    if (auto valid = ValidateName(settings.Source("group"), *group); !valid) return valid.error();
    common.group = *group;
  } else if (need_group) {
    return Error(ErrorCode::kInvalidArgument,
                 "--group is required: name the service's group, for example --group billing-sync");
  }
  if (auto schema = settings.Get("pg-schema")) {
    if (common.store_url.rfind("sqlite:", 0) == 0) {
      return Error(ErrorCode::kInvalidArgument,
                   settings.Source("pg-schema") +
                       " applies to a PostgreSQL store only, and the store is " + common.store_url +
                       ": drop it, or use a postgresql:// store");
    }
    if (schema->empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   settings.Source("pg-schema") + " is empty: name a schema, for example baton");
    }
    common.pg_schema = *schema;
  }
  if (auto id = settings.Get("id")) {
    if (auto valid = ValidateName(settings.Source("id"), *id); !valid) return valid.error();
    common.id = *id;
  } else {
    common.id = DefaultInstanceId();
  }
  return common;
}

int ReportError(const Error& error) {
  if (JsonLogging()) {
    spdlog::error("{}", error.message());
  } else {
    std::fprintf(stderr, "baton: %s\n", error.message().c_str());
  }
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kSchemaMismatch:
    case ErrorCode::kConflict:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

}  // namespace baton::cli
