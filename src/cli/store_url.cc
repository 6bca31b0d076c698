#include "store_url.h"

#include <sys/stat.h>

#include <cstring>
#include <regex>

#include "baton/postgres_store.h"
#include "baton/sqlite_store.h"

namespace baton::cli {
namespace {

// scheme://user:password@ — the password is group 2.
const std::regex& PasswordPattern() {
  static const std::regex kPattern(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)([^@/]*)@)");
  return kPattern;
}

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  std::smatch m;
  if (!std::regex_search(url, m, PasswordPattern()) || m[2].length() == 0) return url;
  return m[1].str() + "***@" + url.substr(static_cast<size_t>(m[0].length()));
}

void BlankPasswordsInArgv(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const size_t start = StartsWith(arg, "--") && eq != std::string::npos ? eq + 1 : 0;
    std::smatch m;
    const std::string value = arg.substr(start);
    if (!std::regex_search(value, m, PasswordPattern()) || m[2].length() == 0) continue;
    std::memset(argv[i] + start + m.position(2), 'x', static_cast<size_t>(m[2].length()));
  }
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock& clock,
                                         const OpenOptions& options) {
  if (StartsWith(url, "sqlite:")) {
    SqliteStoreOptions sqlite;
    sqlite.path = url.substr(std::strlen("sqlite:"));
    if (StartsWith(sqlite.path, "//")) sqlite.path = sqlite.path.substr(2);  // sqlite:///abs
    if (sqlite.path.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "--store \"sqlite:\" names no file: give sqlite:PATH, for example "
                   "sqlite:/var/lib/baton/baton.db");
    }
    struct stat st {};
    if (options.must_exist && stat(sqlite.path.c_str(), &st) != 0) {
      return Error(ErrorCode::kInvalidArgument,
                   url + " does not exist: check --store (no instance has used it yet)");
    }
    sqlite.clock = &clock;
    sqlite.create_schema = options.create_schema;
    return OpenSqliteStore(sqlite);
  }
  if (StartsWith(url, "postgresql://") || StartsWith(url, "postgres://")) {
    PostgresStoreOptions postgres;
    postgres.url = url;
    postgres.clock = &clock;
    postgres.create_schema = options.create_schema;
    return OpenPostgresStore(postgres);
  }
  return Error(ErrorCode::kInvalidArgument,
               "--store \"" + RedactUrl(url) +
                   "\" is not a store URL: use sqlite:PATH (one host) or "
                   "postgresql://HOST/DB (many hosts)");
}

}  // namespace baton::cli
