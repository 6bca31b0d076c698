#pragma once

#include <memory>
#include <optional>
#include <string>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/result.h"
#include "baton/scheduler.h"
#include "baton/store.h"

namespace baton::cli {

// One file per host for every user (SPEC 4): a group is never split by where it started.
inline constexpr const char* kDefaultStoreUrl = "sqlite:/var/lib/baton/baton.db";

// `url` with any password replaced by "***", for logs and messages.
std::string RedactUrl(const std::string& url);
// `message` with the password of `url` (wherever it appears) and any URL's password replaced
// by "***": for messages sent outside the log (systemd's STATUS=).
std::string RedactSecrets(const std::string& message, const std::string& url);

// Overwrites, in place, the password of every URL in argv, so /proc/<pid>/cmdline stops
// showing it as soon as baton has read it.
void BlankPasswordsInArgv(int argc, char** argv);

// What the options beside --store say about an etcd store; an empty field is not given.
// The URL's own user and TLS parameters win over these, and these over ETCDCTL_USER and
// ETCDCTL_PASSWORD.
struct EtcdSettings {
  std::string user = {};
  std::string password = {};  // Never logged or shown.
  std::string ca_file = {};
  std::string cert_file = {};
  std::string key_file = {};
};

// What the options beside --store say about the store.
struct StoreSettings {
  std::string pg_schema;  // PostgreSQL only; empty: the default schema ("baton").
  EtcdSettings etcd;      // etcd only.
};

struct OpenOptions {
  bool create_schema = true;  // false: refuse a store without a schema (status, migrate).
  bool must_exist = false;    // true: refuse to create a new SQLite file (status).
  StoreSettings store;
  // PostgreSQL only: the bound on connecting and on each statement; empty: the store's
  // default (5 s).
  std::optional<Duration> call_timeout = std::nullopt;
};

// Opens the store a URL names: sqlite:PATH (a relative PATH is made absolute, so logs and
// `status` name the file), postgresql://… (postgres://…) or a libpq key=value string
// ("host=db dbname=baton"); the error says what is wrong with the URL, and for the default
// file how to make it usable.
Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock& clock,
                                         const OpenOptions& options);
// The same for the store's work queues, on a connection of their own.
Result<std::unique_ptr<Queue>> OpenQueue(const std::string& url, Clock& clock,
                                         const OpenOptions& options);

// `--tenants-sql`'s source: `sql` run read-only on a PostgreSQL connection of its own with a
// statement timeout of `timeout`. kInvalidArgument, saying so, for a SQLite store.
Result<std::unique_ptr<TenantSource>> OpenTenantQuery(const std::string& url, Clock& clock,
                                                      const OpenOptions& options, std::string sql,
                                                      Duration timeout);

}  // namespace baton::cli
