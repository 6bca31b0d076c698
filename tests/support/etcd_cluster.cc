#include "support/etcd_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "fault_proxy.h"
#include "support/wait.h"

namespace baton::test_support {
namespace {

// Ports are found by binding port 0; six at once, all held until every one is known, so
// they differ.
std::vector<int> FreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot find a free port: " + std::string(std::strerror(errno)));
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  return ports;
}

std::string Tail(const std::string& path) {
  const std::string text = ReadFile(path);
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

}  // namespace

EtcdCluster::EtcdCluster(EtcdClusterOptions options) : options_(std::move(options)), dir_("etcd") {}

std::unique_ptr<EtcdCluster> EtcdCluster::Start(const EtcdClusterOptions& options) {
  if (access(options.etcd.c_str(), X_OK) != 0) {
    throw std::runtime_error(options.etcd + " is missing: install Debian's etcd-server");
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(options));
  const std::vector<int> ports = FreePorts(2 * options.members);
  for (int i = 0; i < options.members; ++i) {
    Member member;
    member.name = "m" + std::to_string(i);
    member.client_port = ports[2 * i];
    member.peer_port = ports[2 * i + 1];
    if (options.peer_proxies) {
      member.peer_proxy = tools::FaultProxy::Start("127.0.0.1", member.peer_port);
    }
    cluster->members_.push_back(std::move(member));
  }
  for (int i = 0; i < options.members; ++i) cluster->Launch(i, /*fresh=*/true);
  cluster->WaitHealthy();
  if (options.peer_proxies) cluster->ReadMemberIds();
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  for (Member& m : members_) m.process.reset();  // SIGKILL and reap.
}

int EtcdCluster::AdvertisedPeerPort(const Member& m) const {
  return m.peer_proxy ? m.peer_proxy->port() : m.peer_port;
}

std::string EtcdCluster::Endpoint(int member) const {
  return "127.0.0.1:" + std::to_string(members_.at(member).client_port);
}

std::string EtcdCluster::Endpoints() const {
  std::string out;
  for (int i = 0; i < size(); ++i) out += (i ? "," : "") + Endpoint(i);
  return out;
}

void EtcdCluster::Launch(int member, bool fresh) {
  Member& m = members_.at(member);
  std::string initial;
  for (const Member& other : members_) {
    initial += (initial.empty() ? "" : ",") + other.name +
               "=http://127.0.0.1:" + std::to_string(AdvertisedPeerPort(other));
  }
  const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  const std::string advertised_peer = "http://127.0.0.1:" + std::to_string(AdvertisedPeerPort(m));
  const std::string client = std::string(options_.cert_file.empty() ? "http" : "https") +
                             "://127.0.0.1:" + std::to_string(m.client_port);
  SpawnOptions spawn;
  spawn.argv = {options_.etcd,
                "--name",
                m.name,
                "--data-dir",
                dir_.File(m.name),
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                advertised_peer,
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--initial-cluster",
                initial,
                "--initial-cluster-token",
                "baton-test",
                "--initial-cluster-state",
                fresh ? "new" : "existing",
                "--heartbeat-interval",
                std::to_string(options_.heartbeat_ms),
                "--election-timeout",
                std::to_string(options_.election_ms),
                "--log-level",
                "warn"};
  if (!options_.cert_file.empty()) {
    spawn.argv.insert(spawn.argv.end(),
                      {"--cert-file", options_.cert_file, "--key-file", options_.key_file});
  }
  spawn.stdout_path = spawn.stderr_path = dir_.File(m.name + ".log");
  m.process.emplace(Process::Spawn(spawn));
  ShareAcrossTests(m.process->pid());
}

void EtcdCluster::WaitHealthy() const {
  std::string last;
  const bool healthy = WaitFor(
      [&] {
        std::vector<std::string> argv = EtcdctlArgv(Endpoints());
        argv.insert(argv.end(), {"endpoint", "health"});
        const CommandResult r = RunCommand(argv, std::chrono::seconds(5), {"ETCDCTL_API=3"});
        last = r.Describe();
        return r.Exited(0);
      },
      std::chrono::seconds(30), std::chrono::milliseconds(100));
  if (!healthy) {
    throw std::runtime_error("the etcd cluster did not become healthy in 30 s: " + last + "\n" +
                             Tail(dir_.File(members_.front().name + ".log")));
  }
}

std::string EtcdCluster::Etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = EtcdctlArgv(Endpoints());
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = RunCommand(argv, std::chrono::seconds(10), {"ETCDCTL_API=3"});
  if (!r.Exited(0)) throw std::runtime_error("etcdctl failed: " + r.Describe());
  return r.out;
}

std::optional<int> EtcdCluster::Leader() const {
  for (int i = 0; i < size(); ++i) {
    if (!members_[i].process) continue;
    std::vector<std::string> argv = EtcdctlArgv(Endpoint(i));
    argv.insert(argv.end(), {"endpoint", "status", "-w", "json"});
    const CommandResult r = RunCommand(argv, std::chrono::seconds(5), {"ETCDCTL_API=3"});
    if (!r.Exited(0)) continue;
    const auto json = nlohmann::json::parse(r.out, nullptr, false);
    if (json.is_discarded() || !json.is_array() || json.empty()) continue;
    const auto& status = json[0]["Status"];
    if (status["leader"] == status["header"]["member_id"]) return i;
  }
  return std::nullopt;
}

void EtcdCluster::KillMember(int member) {
  Member& m = members_.at(member);
  if (m.process) {
    m.process->Kill();
    (void)m.process->WaitExit(std::chrono::seconds(5));
    m.process.reset();
  }
}

void EtcdCluster::StartMember(int member) {
  if (!members_.at(member).process) Launch(member, /*fresh=*/false);
}

std::vector<std::string> EtcdCluster::EtcdctlArgv(const std::string& endpoints) const {
  std::vector<std::string> argv = {options_.etcdctl, "--endpoints=" + endpoints,
                                   "--command-timeout=2s"};
  if (!options_.ca_file.empty()) argv.push_back("--cacert=" + options_.ca_file);
  if (!etcdctl_user_.empty()) argv.push_back("--user=" + etcdctl_user_);
  return argv;
}

std::optional<std::string> EtcdTestsSkipped() {
  const char* skip = std::getenv("BATON_SKIP_ETCD");
  if (skip == nullptr || std::string(skip) != "1") return std::nullopt;
  return "etcd tests skipped: BATON_SKIP_ETCD=1 is set";
}

EtcdCluster* SharedEtcdCluster(std::string* why) {
  static std::unique_ptr<EtcdCluster> cluster;
  static std::string failure;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      cluster = EtcdCluster::Start({.peer_proxies = true});
    } catch (const std::exception& e) {
      failure = std::string(e.what()) + " (set BATON_SKIP_ETCD=1 to skip the etcd tests)";
    }
  }
  *why = failure;
  return cluster.get();
}

std::vector<std::unique_ptr<tools::FaultProxy>> ProxyEveryMember(const EtcdCluster& cluster,
                                                                 std::string* endpoints) {
  std::vector<std::unique_ptr<tools::FaultProxy>> proxies;
  endpoints->clear();
  for (int i = 0; i < cluster.size(); ++i) {
    const std::string endpoint = cluster.Endpoint(i);
    proxies.push_back(
        tools::FaultProxy::Start("127.0.0.1", std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    *endpoints += (i ? "," : "") + ("127.0.0.1:" + std::to_string(proxies.back()->port()));
  }
  return proxies;
}

std::string FreshEtcdPrefix(const std::string& label) {
  static int next = 0;
  return label + "/" + std::to_string(getpid()) + "-" + std::to_string(next++) + "/";
}

void EtcdCluster::PauseMember(int member) {
  if (members_.at(member).process) members_[member].process->Stop();
}

void EtcdCluster::ResumeMember(int member) {
  if (members_.at(member).process) members_[member].process->Continue();
}

void EtcdCluster::ReadMemberIds() {
  const auto json = nlohmann::json::parse(Etcdctl({"member", "list", "-w", "json"}));
  for (const auto& listed : json.at("members")) {
    for (Member& m : members_) {
      if (listed.value("name", "") != m.name) continue;
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%llx",
                    static_cast<unsigned long long>(listed.at("ID").get<uint64_t>()));
      m.id = hex;
    }
  }
  for (const Member& m : members_) {
    if (m.id.empty()) throw std::runtime_error("etcd member " + m.name + " is not in the list");
  }
}

void EtcdCluster::PartitionMember(int member) {
  if (!options_.peer_proxies) throw std::logic_error("PartitionMember needs peer_proxies");
  const std::string from = "X-Server-From: " + members_.at(member).id + "\r\n";
  for (int i = 0; i < size(); ++i) {
    // Its own proxy carries what the others send it; theirs, what it sends them.
    i == member ? members_[i].peer_proxy->Cut() : members_[i].peer_proxy->CutMatching(from);
  }
}

void EtcdCluster::HealPartition() {
  for (Member& m : members_) {
    if (m.peer_proxy) m.peer_proxy->Heal();
  }
}

}  // namespace baton::test_support
