#pragma once

// A throwaway PostgreSQL cluster for tests and benchmarks: a real server, never a mock.

#include <memory>
#include <string>
#include <vector>

namespace baton::test_support {

struct PgClusterOptions {
  // Where initdb, pg_ctl and postgres are (Debian's postgresql-15 package).
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  // Extra postgresql.conf lines, after baton's test defaults.
  std::vector<std::string> settings;
  // Extra environment (NAME=VALUE) of every server program, for example an LD_PRELOAD.
  std::vector<std::string> environment;
};

// Starts a PostgreSQL cluster of its own in a fresh temporary directory: initdb, then pg_ctl,
// listening on 127.0.0.1 at a free port and on a Unix socket in that directory, with
// fsync=off (a test cluster needs no durability), pg_stat_statements loaded and functions
// counted (track_functions=pl). PostgreSQL refuses to run as root, so as root every server
// command runs as the `postgres` user through `runuser`, in a directory that user owns.
//
// Users: the superuser `postgres` with trust authentication, and `baton_pw`, which must give
// its password (scram-sha-256) over TCP.
//
// The destructor stops the server at once (pg_ctl stop -m immediate) and removes the
// directory. Set BATON_TEST_KEEP_TMP=1 to keep the directory (and its server.log).
//
// Thread safety: Start and the destructor on one thread; the const methods from any.
class PgCluster final {
 public:
  static constexpr const char* kPasswordUser = "baton_pw";

  // Throws std::runtime_error saying what failed, with the end of the server's log.
  static std::unique_ptr<PgCluster> Start(const PgClusterOptions& options = {});
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  const std::string& directory() const { return dir_; }
  const std::string& password() const { return password_; }

  // postgresql://postgres@127.0.0.1:PORT/DATABASE (the superuser; no password needed).
  std::string Url(const std::string& database = "postgres") const;
  // postgresql://baton_pw:PASSWORD@127.0.0.1:PORT/DATABASE, with `password` as given.
  std::string PasswordUrl(const std::string& database, const std::string& password) const;

  // Runs `sql` as the superuser in `database` and returns the first column of the first row
  // ("" when there is none). Throws std::runtime_error with the server's message on error.
  std::string Query(const std::string& sql, const std::string& database = "postgres") const;

  // Stops the server as an administrator would for a restart (pg_ctl stop -m fast: every
  // session ends with an admin-shutdown error), and starts it again on the same port. For
  // fault tests; each throws std::runtime_error when pg_ctl fails.
  void StopServer();
  void StartServer();

  // Creates an empty database with a new name starting with `prefix`, owned by `owner`
  // (default: the superuser), and returns its name.
  std::string CreateDatabase(const std::string& prefix = "test", const std::string& owner = "");

 private:
  PgCluster() = default;
  // Runs a server program (as `postgres` when we are root); returns its exit status.
  int RunServerCommand(const std::vector<std::string>& args) const;
  void WriteConfig(int port) const;
  std::string LogTail() const;

  PgClusterOptions options_;
  std::string dir_;
  std::string data_dir_;
  std::string password_;
  int port_ = 0;
  bool started_ = false;
  int databases_ = 0;
};

}  // namespace baton::test_support
