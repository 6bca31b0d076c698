#include "store_url.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <regex>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/passwords.h"
#include "baton/postgres_store.h"
#include "baton/sqlite_store.h"
#ifdef BATON_HAVE_ETCD
#include "etcd_url.h"
#endif

namespace baton::cli {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A libpq key=value connection string starts with a keyword and '=' ("host=db port=5432").
bool IsKeyValueConnectionString(const std::string& url) {
  static const std::regex kPattern(R"(^\s*[A-Za-z_]+\s*=)");
  return std::regex_search(url, kPattern);
}

std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + (StartsWith(path, "./") ? path.substr(2) : path);
}

constexpr const char* kSharedDirectoryFix =
    ": give --store sqlite:PATH for a file of your own, or let this user share the host's "
    "file: groupadd --system baton; install -d -m 2770 -g baton /var/lib/baton; "
    "usermod -aG baton USER (baton then creates the file with mode 0660)";

}  // namespace

std::string RedactUrl(const std::string& url) { return internal::RedactPasswords(url); }

std::string RedactSecrets(const std::string& message, const std::string& url) {
  std::string out = message;
  for (const auto& [offset, length] : internal::PasswordSpans(url)) {
    const std::string password = url.substr(offset, length);
    for (size_t at = out.find(password); at != std::string::npos; at = out.find(password, at)) {
      out.replace(at, password.size(), "***");
      at += 3;
    }
  }
  return RedactUrl(out);
}

void BlankPasswordsInArgv(int argc, char** argv) {
  constexpr std::string_view kEtcdPassword = "--etcd-password";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == kEtcdPassword && i + 1 < argc) {
      std::memset(argv[i + 1], 'x', std::strlen(argv[i + 1]));
      ++i;
      continue;
    }
    if (StartsWith(arg, std::string(kEtcdPassword) + "=")) {
      std::memset(argv[i] + kEtcdPassword.size() + 1, 'x', arg.size() - kEtcdPassword.size() - 1);
      continue;
    }
    const size_t eq = arg.find('=');
    const size_t start = StartsWith(arg, "--") && eq != std::string::npos ? eq + 1 : 0;
    for (const auto& [offset, length] :
         internal::PasswordSpans(std::string_view(arg).substr(start))) {
      std::memset(argv[i] + start + offset, 'x', length);
    }
  }
}

namespace {

// The options of the store a URL names: one of the two, or the error that says what is wrong
// with the URL.
struct StoreTarget {
  std::optional<SqliteStoreOptions> sqlite;
  std::optional<PostgresStoreOptions> postgres;
  bool etcd = false;
#ifdef BATON_HAVE_ETCD
  EtcdStoreOptions etcd_options;
#endif
};

constexpr const char* kQueuesNeedSql =
    "queues need an SQL store (sqlite:PATH or postgresql://…), and the store is etcd: run "
    "baton run on etcd, and work, schedule, enqueue and queue on a PostgreSQL or SQLite store";

Result<StoreTarget> TargetOf(const std::string& url, Clock& clock, const OpenOptions& options) {
  StoreTarget target;
  if (StartsWith(url, "sqlite:")) {
    SqliteStoreOptions sqlite;
    sqlite.path = url.substr(std::strlen("sqlite:"));
    if (StartsWith(sqlite.path, "//")) sqlite.path = sqlite.path.substr(2);  // sqlite:///abs
    if (sqlite.path.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "--store \"sqlite:\" names no file: give sqlite:PATH, for example "
                   "sqlite:/var/lib/baton/baton.db");
    }
    sqlite.path = Absolute(sqlite.path);
    struct stat st {};
    if (options.must_exist && stat(sqlite.path.c_str(), &st) != 0) {
      return Error(
          ErrorCode::kInvalidArgument,
          "sqlite:" + sqlite.path + " does not exist: check --store (no instance has used it yet)");
    }
    sqlite.clock = &clock;
    sqlite.create_schema = options.create_schema;
    target.sqlite = sqlite;
    return target;
  }
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://") ||
      IsKeyValueConnectionString(url)) {
    PostgresStoreOptions postgres;
    postgres.url = url;
    if (!options.store.pg_schema.empty()) postgres.schema = options.store.pg_schema;
    postgres.clock = &clock;
    postgres.create_schema = options.create_schema;
    if (options.call_timeout) {
      postgres.statement_timeout = *options.call_timeout;
      postgres.connect_timeout = *options.call_timeout;
    }
    target.postgres = postgres;
    return target;
  }
  if (url.rfind("etcd://", 0) == 0 || url.rfind("etcds://", 0) == 0) {
#ifdef BATON_HAVE_ETCD
    auto etcd = ParseEtcdUrl(url, options.store.etcd);
    if (!etcd) return etcd.error();
    etcd->clock = &clock;
    etcd->create_schema = options.create_schema;
    if (options.call_timeout) etcd->call_timeout = *options.call_timeout;
    // Test only: the guard against leases etcd revokes early, switched off.
    if (const char* unsafe = std::getenv("BATON_UNSAFE_ETCD_TRUST_EARLY_VANISH");
        unsafe != nullptr && std::string(unsafe) == "1") {
      spdlog::warn(
          "BATON_UNSAFE_ETCD_TRUST_EARLY_VANISH=1: a lease key that etcd revokes early is taken at "
          "once, while its holder may still be active; for tests only");
      etcd->unsafe_trust_early_vanish = true;
    }
    target.etcd = true;
    target.etcd_options = *etcd;
    return target;
#else
    return Error(ErrorCode::kInvalidArgument,
                 "this baton was built without the etcd store (BATON_ETCD=OFF): use sqlite:PATH "
                 "or postgresql://HOST/DB");
#endif
  }
  return Error(ErrorCode::kInvalidArgument,
               "--store \"" + RedactUrl(url) +
                   "\" is not a store URL: use sqlite:PATH (one host), "
                   "postgresql://HOST/DB or a libpq string such as \"host=HOST dbname=DB\", or "
                   "etcd://HOST:PORT,HOST:PORT (many hosts)");
}

// Opens with `open_sqlite` or `open_postgres`; for the default file, the error says how to
// make it usable.
template <typename T, typename OpenSqlite, typename OpenPostgres>
Result<std::unique_ptr<T>> Open(const std::string& url, Clock& clock, const OpenOptions& options,
                                OpenSqlite open_sqlite, OpenPostgres open_postgres) {
  Result<StoreTarget> target = TargetOf(url, clock, options);
  if (!target) return target.error();
  if (target->etcd) {
#ifdef BATON_HAVE_ETCD
    if constexpr (std::is_same_v<T, Store>) return OpenEtcdStore(target->etcd_options);
#endif
    return Error(ErrorCode::kInvalidArgument, kQueuesNeedSql);
  }
  if (target->postgres) return open_postgres(*target->postgres);
  Result<std::unique_ptr<T>> opened = open_sqlite(*target->sqlite);
  if (!opened && target->sqlite->path == kDefaultSqlitePath &&
      opened.error().code() == ErrorCode::kInvalidArgument) {
    return Error(ErrorCode::kInvalidArgument, opened.error().message() + kSharedDirectoryFix);
  }
  return opened;
}

}  // namespace

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock& clock,
                                         const OpenOptions& options) {
  return Open<Store>(url, clock, options, OpenSqliteStore, OpenPostgresStore);
}

Result<std::unique_ptr<Queue>> OpenQueue(const std::string& url, Clock& clock,
                                         const OpenOptions& options) {
  return Open<Queue>(url, clock, options, OpenSqliteQueue, OpenPostgresQueue);
}

Result<std::unique_ptr<TenantSource>> OpenTenantQuery(const std::string& url, Clock& clock,
                                                      const OpenOptions& options, std::string sql,
                                                      Duration timeout) {
  Result<StoreTarget> target = TargetOf(url, clock, options);
  if (!target) return target.error();
  if (target->etcd) return Error(ErrorCode::kInvalidArgument, kQueuesNeedSql);
  if (!target->postgres) {
    return Error(ErrorCode::kInvalidArgument,
                 "--tenants-sql needs a PostgreSQL store, and the store is " + RedactUrl(url) +
                     ": use --tenants-file or --tenants-command, or a postgresql:// store");
  }
  return OpenPostgresTenantQuery(*target->postgres, std::move(sql), timeout);
}

}  // namespace baton::cli
