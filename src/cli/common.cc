#include "common.h"

#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>

#include "baton/elector.h"
#include "core/signal_watcher.h"
#include "logging.h"
#include "store_url.h"

namespace baton::cli {

void AddCommonOptions(CLI::App* app, Settings& settings) {
  settings.Add(
      app, "store",
      "Store: sqlite:PATH (default sqlite:/var/lib/baton/baton.db), postgresql://… or a libpq "
      "key=value string");
  settings.Add(
      app, "group",
      "The service's group: the instances that elect one active (required, except by serve "
      "and migrate)");
  settings.Add(app, "id", "This instance's id (default <host>-<pid>-<random hex>)");
  settings.Add(app, "config",
               "A TOML file with option values (flag > environment > file; default none)");
  settings.Add(app, "log-format", "text (default) or json");
  settings.Add(app, "pg-schema",
               "The PostgreSQL schema of baton's tables (default baton); a separate store");
  settings.Add(app, "etcd-user",
               "etcd: the user to authenticate as, unless the URL names one (default: "
               "ETCDCTL_USER, else none)");
  settings.Add(app, "etcd-password",
               "etcd: that user's password; prefer BATON_ETCD_PASSWORD or the config file to "
               "the flag (default: ETCDCTL_PASSWORD, else none)");
  settings.Add(app, "etcd-cacert",
               "etcds://: the CA file that signs the members' certificates, unless the URL "
               "has cacert= (default: the system's roots)");
  settings.Add(app, "etcd-cert", "etcds://: a client certificate, with --etcd-key (default none)");
  settings.Add(app, "etcd-key", "etcds://: the client certificate's key file (default none)");
}

void AddMetricsOption(CLI::App* app, Settings& settings) {
  settings.Add(app, "metrics",
               "Serve Prometheus metrics at http://HOST:PORT/metrics; a port alone listens on "
               "127.0.0.1 (default none)");
}

void AddLeaseTimingOptions(CLI::App* app, Settings& settings) {
  settings.Add(app, "ttl", "Lease time-to-live (default 10s, at least 500ms)",
               OptionKind::kDuration);
  settings.Add(app, "heartbeat", "Renew/compete every (default ttl/5, at least 50ms)",
               OptionKind::kDuration);
}

Duration LeaseCallTimeout(const Timing& timing) {
  return std::clamp<Duration>((timing.ttl - timing.margin - timing.heartbeat) * 4 / 5,
                              std::chrono::milliseconds(400), std::chrono::seconds(5));
}

namespace {

// The --etcd-* options; refused, naming where each came from, with a store they do not fit.
Result<EtcdSettings> ResolveEtcdSettings(const Settings& settings, const std::string& store_url) {
  EtcdSettings etcd;
  const bool tls = store_url.rfind("etcds://", 0) == 0;
  const bool is_etcd = tls || store_url.rfind("etcd://", 0) == 0;
  for (auto [name, field, needs_tls] : {std::tuple{"etcd-user", &etcd.user, false},
                                        std::tuple{"etcd-password", &etcd.password, false},
                                        std::tuple{"etcd-cacert", &etcd.ca_file, true},
                                        std::tuple{"etcd-cert", &etcd.cert_file, true},
                                        std::tuple{"etcd-key", &etcd.key_file, true}}) {
    const std::optional<std::string> value = settings.Get(name);
    if (!value) continue;
    if (!is_etcd) {
      return Error(ErrorCode::kInvalidArgument,
                   settings.Source(name) + " applies to an etcd store only, and the store is " +
                       RedactUrl(store_url) + ": drop it, or use an etcd:// store");
    }
    if (needs_tls && !tls) {
      return Error(ErrorCode::kInvalidArgument,
                   settings.Source(name) + " needs TLS: write etcds:// in --store");
    }
    if (value->empty()) {
      return Error(ErrorCode::kInvalidArgument, settings.Source(name) + " is empty");
    }
    *field = *value;
  }
  return etcd;
}

}  // namespace

Result<Common> ResolveCommon(const Settings& settings, bool need_group) {
  Common common;
  common.store_url = settings.GetOr("store", kDefaultStoreUrl);
  common.log_format = settings.GetOr("log-format", "text");
  common.metrics = settings.GetOr("metrics", "");
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
    common.store.pg_schema = *schema;
  }
  if (auto etcd = ResolveEtcdSettings(settings, common.store_url); !etcd) {
    return etcd.error();
  } else {
    common.store.etcd = *etcd;
  }
  if (auto id = settings.Get("id")) {
    if (auto valid = ValidateName(settings.Source("id"), *id); !valid) return valid.error();
    common.id = *id;
  } else {
    common.id = DefaultInstanceId();
  }
  return common;
}

Result<std::string> ResolveQueueName(const Settings& settings) {
  auto queue = settings.Get("queue");
  if (!queue) {
    return Error(ErrorCode::kInvalidArgument,
                 "--queue is required: name the work queue, for example --queue tenant-sync");
  }
  if (auto valid = ValidateName(settings.Source("queue"), *queue); !valid) return valid.error();
  return *queue;
}

namespace {

// Why `path` cannot be executed, or "" when it can.
std::string NotExecutable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return "it is a directory";
  if (!S_ISREG(st.st_mode)) return "it is not a regular file";
  if (::access(path.c_str(), X_OK) != 0)
    return "it is not executable (" + std::string(std::strerror(errno)) + ")";
  return "";
}

}  // namespace

Result<std::string> FindExecutable(const std::string& name) {
  if (name.empty()) {
    return Error(ErrorCode::kInvalidArgument, "the command after -- is an empty string");
  }
  if (name.find('/') != std::string::npos) {
    if (const std::string why = NotExecutable(name); !why.empty()) {
      return Error(ErrorCode::kInvalidArgument, "the command " + name + " cannot be run: " + why);
    }
    return name;
  }
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  for (size_t begin = 0; begin <= path.size();) {
    size_t end = path.find(':', begin);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > begin ? path.substr(begin, end - begin) : ".";
    const std::string candidate = dir + "/" + name;
    if (NotExecutable(candidate).empty()) return candidate;
    begin = end + 1;
  }
  return Error(ErrorCode::kInvalidArgument, "the command " + name + " was not found in PATH (" +
                                                path + "): give its full path or fix PATH");
}

bool WaitBeforeRetry(const Error& error, int attempt, Duration delay, const sigset_t& signals) {
  // The message names the store already.
  spdlog::warn("cannot reach the store (attempt {}): {}; retrying in {}", attempt, error.message(),
               FormatDuration(delay));
  const timespec wait{static_cast<time_t>(delay.count() / 1'000'000'000),
                      static_cast<long>(delay.count() % 1'000'000'000)};
  if (const int sig = sigtimedwait(&signals, nullptr, &wait); sig > 0) {
    spdlog::info("received {} while waiting for the store: stopping", strsignal(sig));
    return true;
  }
  return false;
}

sigset_t BlockStopSignals() {
  const sigset_t set = detail::BlockStopSignals();
  signal(SIGPIPE, SIG_IGN);
  return set;
}

const OptionNames& FlagNames() {
  static const OptionNames kFlagNames = [](std::string_view field) {
    std::string flag = "--" + std::string(field);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag;
  };
  return kFlagNames;
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
