#include "support/pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace baton::test_support {
namespace {

constexpr const char* kRunuser = "/usr/sbin/runuser";
constexpr const char* kServerUser = "postgres";
constexpr int kStartAttempts = 3;

// A port nobody listens on now: bind port 0 and read what the kernel chose. Another process
// may take it before the server does; Start then tries again with a new one.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    throw std::runtime_error("cannot find a free port: " + why);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string RandomHex(int digits) {
  std::random_device rd;
  std::uniform_int_distribution<int> nibble(0, 15);
  std::string out;
  for (int i = 0; i < digits; ++i) out += "0123456789abcdef"[nibble(rd)];
  return out;
}

bool KeepTmp() {
  const char* keep = std::getenv("BATON_TEST_KEEP_TMP");
  return keep != nullptr && std::string(keep) == "1";
}

void WriteFile(const std::string& path, const std::string& text, std::ios::openmode mode) {
  std::ofstream out(path, mode);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

std::unique_ptr<PgCluster> PgCluster::Start(const PgClusterOptions& options) {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  cluster->options_ = options;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/baton-pg-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot create a directory from " + pattern + ": " +
                             std::strerror(errno));
  }
  cluster->dir_ = pattern;
  cluster->data_dir_ = pattern + "/data";
  if (geteuid() == 0) {
    const passwd* pw = getpwnam(kServerUser);
    if (pw == nullptr) {
      throw std::runtime_error(std::string("running as root, but there is no user ") + kServerUser +
                               " to run PostgreSQL as (install postgresql)");
    }
    if (chown(cluster->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("cannot give " + cluster->dir_ + " to " + kServerUser + ": " +
                               std::strerror(errno));
    }
  }

  const std::string initdb = options.bin_dir + "/initdb";
  if (cluster->RunServerCommand({initdb, "-D", cluster->data_dir_, "-U", "postgres", "-A", "trust",
                                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"}) !=
      0) {
    throw std::runtime_error("initdb failed: " + cluster->LogTail());
  }
  const std::string pg_ctl = options.bin_dir + "/pg_ctl";
  for (int attempt = 1;; ++attempt) {
    const int port = FreePort();
    cluster->WriteConfig(port);
    if (cluster->RunServerCommand({pg_ctl, "-D", cluster->data_dir_, "-l",
                                   cluster->dir_ + "/server.log", "-w", "-t", "60", "start"}) ==
        0) {
      cluster->port_ = port;
      cluster->started_ = true;
      break;
    }
    if (attempt == kStartAttempts) {
      throw std::runtime_error("pg_ctl start failed " + std::to_string(attempt) +
                               " times: " + cluster->LogTail());
    }
  }
  cluster->password_ = "S3cret-" + RandomHex(16);
  cluster->Query(std::string("CREATE ROLE ") + kPasswordUser + " LOGIN PASSWORD '" +
                 cluster->password_ + "'");
  return cluster;
}

PgCluster::~PgCluster() {
  if (started_) {
    RunServerCommand(
        {options_.bin_dir + "/pg_ctl", "-D", data_dir_, "-m", "immediate", "-w", "stop"});
  }
  if (!dir_.empty() && !KeepTmp()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void PgCluster::StopServer() {
  if (RunServerCommand(
          {options_.bin_dir + "/pg_ctl", "-D", data_dir_, "-m", "fast", "-w", "stop"}) != 0) {
    throw std::runtime_error("pg_ctl stop failed: " + LogTail());
  }
  started_ = false;
}

void PgCluster::StartServer() {
  if (RunServerCommand({options_.bin_dir + "/pg_ctl", "-D", data_dir_, "-l", dir_ + "/server.log",
                        "-w", "-t", "60", "start"}) != 0) {
    throw std::runtime_error("pg_ctl start failed: " + LogTail());
  }
  started_ = true;
}

void PgCluster::WriteConfig(int port) const {
  std::ostringstream conf;
  conf << "\n# baton test cluster\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "port = " << port << "\n"
       << "unix_socket_directories = '" << dir_ << "'\n"
       << "fsync = off\n"
       << "full_page_writes = off\n"
       << "max_connections = 300\n"
       << "shared_buffers = 64MB\n"
       << "password_encryption = 'scram-sha-256'\n"
       << "shared_preload_libraries = 'pg_stat_statements'\n"
       << "track_functions = 'pl'\n"
       << "log_min_messages = warning\n";
  for (const std::string& line : options_.settings) conf << line << "\n";
  // postgresql.auto.conf is read last, so a retry with another port simply replaces it.
  WriteFile(data_dir_ + "/postgresql.auto.conf", conf.str(), std::ios::trunc);
  WriteFile(data_dir_ + "/pg_hba.conf",
            std::string("local all all trust\n") + "host all " + kPasswordUser +
                " 127.0.0.1/32 scram-sha-256\n" + "host all all 127.0.0.1/32 trust\n",
            std::ios::trunc);
  if (geteuid() == 0) {
    const passwd* pw = getpwnam(kServerUser);
    for (const char* file : {"/postgresql.auto.conf", "/pg_hba.conf"}) {
      if (pw == nullptr || chown((data_dir_ + file).c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        throw std::runtime_error("cannot give " + data_dir_ + file + " to " + kServerUser);
      }
    }
  }
}

int PgCluster::RunServerCommand(const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (geteuid() == 0) argv = {kRunuser, "-u", kServerUser, "--"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  const std::string log = dir_ + "/commands.log";
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // The child: output to the commands log, no PG* settings of the developer's.
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    for (const char* name : {"PGDATA", "PGPORT", "PGHOST", "PGUSER", "PGDATABASE", "PGOPTIONS"}) {
      unsetenv(name);
    }
    for (const std::string& entry : options_.environment) {
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) {
        setenv(entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), 1);
      }
    }
    execv(raw[0], raw.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string PgCluster::LogTail() const {
  std::string out;
  for (const char* name : {"/commands.log", "/server.log"}) {
    std::ifstream in(dir_ + name);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    if (s.size() > 2000) s = "..." + s.substr(s.size() - 2000);
    if (!s.empty()) out += std::string("\n--- ") + (name + 1) + " ---\n" + s;
  }
  return out.empty() ? "(no output)" : out;
}

std::string PgCluster::Url(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::PasswordUrl(const std::string& database, const std::string& password) const {
  return std::string("postgresql://") + kPasswordUser + ":" + password +
         "@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::Query(const std::string& sql, const std::string& database) const {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(Url(database).c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to the test cluster: " +
                             std::string(PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("test cluster: " + sql + ": " +
                             std::string(PQresultErrorMessage(result.get())));
  }
  if (status != PGRES_TUPLES_OK || PQntuples(result.get()) == 0) return "";
  return PQgetvalue(result.get(), 0, 0);
}

std::string PgCluster::CreateDatabase(const std::string& prefix, const std::string& owner) {
  const std::string name = prefix + "_" + std::to_string(++databases_);
  Query("CREATE DATABASE " + name + (owner.empty() ? "" : " OWNER " + owner));
  return name;
}

}  // namespace baton::test_support
