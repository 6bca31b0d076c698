#include "client.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

namespace baton::etcd_detail {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

Result<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid("etcd " + what + " " + path + ": no such file or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "host:port" → host and port; "[::1]:2379" too.
Result<std::pair<std::string, std::string>> SplitEndpoint(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) {
    return Invalid("etcd endpoint \"" + endpoint + "\" is not host:port");
  }
  std::string host = endpoint.substr(0, colon);
  const std::string port = endpoint.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), ::isdigit) || port.size() > 5 ||
      std::stoi(port) == 0 || std::stoi(port) > 65535) {
    return Invalid("etcd endpoint \"" + endpoint + "\" has no valid port");
  }
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::pair{host, port};
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out;
}

// One endpoint's gRPC target: its addresses, resolved once here ("ipv4:a:p,b:p"). A name
// that resolves to several addresses is one member reached at any of them.
Result<std::string> Target(const std::string& endpoint) {
  std::vector<std::string> v4;
  std::vector<std::string> v6;
  auto split = SplitEndpoint(endpoint);
  if (!split) return split.error();
  const auto& [host, port] = *split;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Error(ErrorCode::kUnavailable,
                 "etcd endpoint " + endpoint + ": cannot resolve: " + gai_strerror(rc));
  }
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      v4.push_back(std::string(text) + ":" + port);
    } else if (a->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, text,
                sizeof text);
      v6.push_back("[" + std::string(text) + "]:" + port);
    }
  }
  freeaddrinfo(found);
  const auto join = [](const std::string& scheme, std::vector<std::string> addresses) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
    return scheme + Join(addresses);
  };
  // One target holds one address family; IPv4 when there is any.
  if (!v4.empty()) return join("ipv4:", std::move(v4));
  if (!v6.empty()) return join("ipv6:", std::move(v6));
  return Error(ErrorCode::kUnavailable, "etcd endpoint " + endpoint + " resolves to no address");
}

}  // namespace

// gRPC's own log lines (a failed TLS handshake, a refused connection, at every retry) go to
// baton's log at debug level instead of stderr: the calls' errors already say what failed.
void RouteGrpcLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function([](gpr_log_func_args* args) {
      spdlog::debug("grpc: {} ({}:{})", args->message, args->file, args->line);
    });
  });
}

Result<std::unique_ptr<Client>> Client::Open(const EtcdStoreOptions& options) {
  RouteGrpcLogs();
  if (options.endpoints.empty()) return Invalid("an etcd store needs at least one endpoint");
  if (options.call_timeout <= Duration::zero()) {
    return Invalid("the etcd call timeout must be positive");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Invalid("an etcd client certificate needs both cert and key");
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto ca = ReadFile("cacert", options.ca_file);
      if (!ca) return ca.error();
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      auto cert = ReadFile("cert", options.cert_file);
      if (!cert) return cert.error();
      auto key = ReadFile("key", options.key_file);
      if (!key) return key.error();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }

  grpc::ChannelArguments args;
  // A dead member is noticed by the transport within seconds even when no call is pending;
  // etcd refuses pings more often than every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect to a member that came back within a second, not gRPC's default two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (options.tls) {
    // The addresses were resolved here; the certificate names the host.
    auto first = SplitEndpoint(options.endpoints.front());
    if (first) args.SetSslTargetNameOverride(first->first);
  }
  std::vector<Member> members;
  for (const std::string& endpoint : options.endpoints) {
    auto target = Target(endpoint);
    if (!target) return target.error();
    Member member;
    member.channel = grpc::CreateCustomChannel(*target, credentials, args);
    member.kv = pb::KV::NewStub(member.channel);
    member.lease = pb::Lease::NewStub(member.channel);
    member.watch = pb::Watch::NewStub(member.channel);
    member.auth = pb::Auth::NewStub(member.channel);
    members.push_back(std::move(member));
  }
  return std::unique_ptr<Client>(
      new Client(std::move(members), options,
                 std::string(options.tls ? "etcds " : "etcd ") + Join(options.endpoints)));
}

Client::Client(std::vector<Member> members, const EtcdStoreOptions& options, std::string describe)
    : members_(std::move(members)),
      describe_(std::move(describe)),
      call_timeout_(options.call_timeout),
      user_(options.user),
      password_(options.password) {}

void Client::MoveOnFrom(size_t from) {
  current_.compare_exchange_strong(from, (from + 1) % members_.size());
}

Result<void> Client::Authenticate() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + call_timeout_);
  context.set_wait_for_ready(true);
  pb::AuthenticateRequest request;
  request.set_name(user_);
  request.set_password(password_);
  pb::AuthenticateResponse response;
  const grpc::Status status =
      members_[current_.load()].auth->Authenticate(&context, request, &response);
  if (!status.ok()) {
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      return Invalid(describe_ + ": etcd refused user \"" + user_ +
                     "\": " + status.error_message());
    }
    return FromStatus(status, Effect::kRead, "authenticating");
  }
  std::lock_guard lock(mu_);
  token_ = response.token();
  return Ok();
}

Result<void> Client::Prepare(grpc::ClientContext& context, Duration timeout) {
  if (timeout > Duration::zero()) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
  }
  // Wait for a member to answer within the deadline instead of failing at once while the
  // channel reconnects (a member down, a leader change).
  context.set_wait_for_ready(true);
  if (user_.empty()) return Ok();
  std::string token;
  {
    std::lock_guard lock(mu_);
    token = token_;
  }
  if (token.empty()) {
    if (auto r = Authenticate(); !r) return r;
    std::lock_guard lock(mu_);
    token = token_;
  }
  context.AddMetadata("token", token);
  return Ok();
}

Result<void> Client::PrepareStream(grpc::ClientContext& context) {
  return Prepare(context, Duration::zero());
}

template <typename Call>
Result<void> Client::Invoke(Effect effect, const std::string& what, Call&& call) {
  // A member that stops answering without closing its connections (a silent partition) still
  // looks ready to gRPC until the transport's keepalive notices, seconds later, and the
  // round-robin hands it every third call. A call that may be repeated therefore gets half
  // the budget, and on a time-out or an unavailable member the other half goes to the next
  // member: a silent member costs half a budget, never the lease.
  const bool retry_elsewhere = effect != Effect::kWrite;
  bool token_renewed = false;
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    const Duration budget = retry_elsewhere ? call_timeout_ / 2 : call_timeout_;
    if (auto r = Prepare(context, budget); !r) return r;
    const size_t member = current_.load();
    const grpc::Status status = call(context, members_[member]);
    if (status.ok()) return Ok();
    const bool expired_token =
        status.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
        status.error_message().find("invalid auth token") != std::string::npos;
    if (expired_token && !token_renewed && !user_.empty()) {
      token_renewed = true;
      std::lock_guard lock(mu_);
      token_.clear();
      continue;
    }
    // etcd answers "context deadline exceeded" (UNKNOWN) itself when it could not forward
    // the call to a leader in time.
    const bool elsewhere = status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           (status.error_code() == grpc::StatusCode::UNKNOWN &&
                            status.error_message().find("deadline exceeded") != std::string::npos);
    if (elsewhere && members_.size() > 1) MoveOnFrom(member);
    if (retry_elsewhere && elsewhere && attempt == 0) continue;
    return FromStatus(status, effect, what);
  }
}

Error Client::FromStatus(const grpc::Status& status, Effect effect, const std::string& what) const {
  const std::string message = describe_ + ": " + what + " failed: " + status.error_message() +
                              " (gRPC " + std::to_string(static_cast<int>(status.error_code())) +
                              ")";
  if (status.error_message().find("user name is empty") != std::string::npos) {
    return Invalid(describe_ +
                   ": the etcd cluster has authentication enabled: give a user "
                   "(etcds://USER:PASSWORD@… or ETCDCTL_USER and ETCDCTL_PASSWORD)");
  }
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Invalid(message + ": check the etcd user and its role's permissions on the prefix");
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNIMPLEMENTED:
      return Error(ErrorCode::kInternal, message);
    default:
      // Unavailable, a deadline, no leader, too many requests: another try may reach a
      // member that answers. A write may have been applied all the same.
      return Error(effect == Effect::kRead ? ErrorCode::kUnavailable : ErrorCode::kOutcomeUnknown,
                   message);
  }
}

Result<pb::RangeResponse> Client::Range(const pb::RangeRequest& request, const std::string& what) {
  pb::RangeResponse response;
  auto r = Invoke(Effect::kRead, what, [&](grpc::ClientContext& c, const Member& m) {
    return m.kv->Range(&c, request, &response);
  });
  if (!r) return r.error();
  return response;
}

Result<pb::TxnResponse> Client::Txn(const pb::TxnRequest& request, const std::string& what) {
  pb::TxnResponse response;
  auto r = Invoke(Effect::kWrite, what, [&](grpc::ClientContext& c, const Member& m) {
    return m.kv->Txn(&c, request, &response);
  });
  if (!r) return r.error();
  return response;
}

Result<pb::PutResponse> Client::Put(const pb::PutRequest& request, const std::string& what) {
  pb::PutResponse response;
  auto r = Invoke(Effect::kWrite, what, [&](grpc::ClientContext& c, const Member& m) {
    return m.kv->Put(&c, request, &response);
  });
  if (!r) return r.error();
  return response;
}

Result<pb::LeaseGrantResponse> Client::Grant(int64_t ttl_seconds, const std::string& what) {
  pb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse response;
  auto r = Invoke(Effect::kWrite, what, [&](grpc::ClientContext& c, const Member& m) {
    return m.lease->LeaseGrant(&c, request, &response);
  });
  if (!r) return r.error();
  return response;
}

Result<void> Client::Revoke(int64_t lease, const std::string& what) {
  pb::LeaseRevokeRequest request;
  request.set_id(lease);
  pb::LeaseRevokeResponse response;
  return Invoke(Effect::kWrite, what, [&](grpc::ClientContext& c, const Member& m) {
    grpc::Status status = m.lease->LeaseRevoke(&c, request, &response);
    // Already expired or revoked: what was asked for is true.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) return grpc::Status::OK;
    return status;
  });
}

Result<int64_t> Client::KeepAlive(int64_t lease, const std::string& what) {
  pb::LeaseKeepAliveResponse response;
  // A renewal may be repeated: a second one only resets the same lease's clock again.
  auto r = Invoke(Effect::kRepeatable, what, [&](grpc::ClientContext& c, const Member& m) {
    auto stream = m.lease->LeaseKeepAlive(&c);
    pb::LeaseKeepAliveRequest request;
    request.set_id(lease);
    if (!stream->Write(request) || !stream->Read(&response)) return stream->Finish();
    stream->WritesDone();
    c.TryCancel();  // One renewal per stream: the rest of it is not needed.
    (void)stream->Finish();
    return grpc::Status::OK;
  });
  if (!r) return r.error();
  return response.ttl();
}

Result<pb::LeaseTimeToLiveResponse> Client::TimeToLive(int64_t lease, const std::string& what) {
  pb::LeaseTimeToLiveRequest request;
  request.set_id(lease);
  pb::LeaseTimeToLiveResponse response;
  auto r = Invoke(Effect::kRead, what, [&](grpc::ClientContext& c, const Member& m) {
    return m.lease->LeaseTimeToLive(&c, request, &response);
  });
  if (!r) return r.error();
  return response;
}

}  // namespace baton::etcd_detail
