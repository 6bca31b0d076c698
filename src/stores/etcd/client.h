#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "baton/etcd_store.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

// The etcd store's only contact with gRPC: one channel over every endpoint, a deadline and
// the auth token on each call, and gRPC statuses turned into baton's error codes.
namespace baton::etcd_detail {

namespace pb = etcdserverpb;

// Thread safety: every method may be called from any thread.
class Client final {
 public:
  // Checks the options (endpoints, TLS files) and makes the channel; connects lazily.
  static Result<std::unique_ptr<Client>> Open(const EtcdStoreOptions& options);

  // "etcd 127.0.0.1:2379,127.0.0.1:22379": never a password.
  const std::string& describe() const { return describe_; }
  Duration call_timeout() const { return call_timeout_; }

  // `what` says what the call was for, in errors. Reads fail with kUnavailable; writes whose
  // fate is unknown (a deadline, a lost connection) with kOutcomeUnknown.
  Result<pb::RangeResponse> Range(const pb::RangeRequest& request, const std::string& what);
  Result<pb::TxnResponse> Txn(const pb::TxnRequest& request, const std::string& what);
  Result<pb::PutResponse> Put(const pb::PutRequest& request, const std::string& what);
  Result<pb::LeaseGrantResponse> Grant(int64_t ttl_seconds, const std::string& what);
  Result<void> Revoke(int64_t lease, const std::string& what);
  // The lease's TTL in seconds after the keep-alive; 0 when etcd no longer has it.
  Result<int64_t> KeepAlive(int64_t lease, const std::string& what);
  Result<pb::LeaseTimeToLiveResponse> TimeToLive(int64_t lease, const std::string& what);

  // For a long-lived watch stream: the stub, and a context with the auth token (no deadline).
  pb::Watch::Stub& watch_stub() { return *watch_; }
  Result<void> PrepareStream(grpc::ClientContext& context);

 private:
  Client(std::shared_ptr<grpc::Channel> channel, const EtcdStoreOptions& options,
         std::string describe);

  enum class Effect { kRead, kWrite };
  // Runs `call` with a fresh context; once more after re-authenticating when the token expired.
  template <typename Call>
  Result<void> Invoke(Effect effect, const std::string& what, Call&& call);
  Result<void> Prepare(grpc::ClientContext& context, Duration timeout);
  Result<void> Authenticate();
  Error FromStatus(const grpc::Status& status, Effect effect, const std::string& what) const;

  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<pb::KV::Stub> kv_;
  const std::unique_ptr<pb::Lease::Stub> lease_;
  const std::unique_ptr<pb::Watch::Stub> watch_;
  const std::unique_ptr<pb::Auth::Stub> auth_;
  const std::string describe_;
  const Duration call_timeout_;
  const std::string user_;
  const std::string password_;

  std::mutex mu_;
  std::string token_;  // GUARDED_BY(mu_): the auth token, when a user is set.
};

}  // namespace baton::etcd_detail
