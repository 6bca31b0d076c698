#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "baton/etcd_store.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

// The etcd store's only contact with gRPC: one channel per endpoint, a deadline and the auth
// token on each call, and gRPC statuses turned into baton's error codes.
//
// Calls go to one member at a time, the last that answered (as etcd's own client does):
// a member that stops answering, even silently, costs one time-out and then no more calls,
// where a round-robin over all members would send it every third call.
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

  // For a long-lived watch stream: the current member's stub, and a context with the auth
  // token (no deadline). After a broken stream, MoveOn() so the next one tries another member.
  pb::Watch::Stub& watch_stub() { return *members_[current_.load()].watch; }
  Result<void> PrepareStream(grpc::ClientContext& context);
  void MoveOn() { MoveOnFrom(current_.load()); }

 private:
  struct Member {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
    std::unique_ptr<pb::Watch::Stub> watch;
    std::unique_ptr<pb::Auth::Stub> auth;
  };

  Client(std::vector<Member> members, const EtcdStoreOptions& options, std::string describe);

  // kRepeatable: a write that may be sent twice (a lease keep-alive).
  enum class Effect { kRead, kRepeatable, kWrite };
  // Runs `call(context, member)` with a fresh context on the current member; a call that may
  // be repeated goes once more to the next member when the first did not answer; once more
  // after re-authenticating when the token expired.
  template <typename Call>
  Result<void> Invoke(Effect effect, const std::string& what, Call&& call);
  // The next calls go to the member after `from`, unless another call moved on already.
  void MoveOnFrom(size_t from);
  Result<void> Prepare(grpc::ClientContext& context, Duration timeout);
  Result<void> Authenticate();
  Error FromStatus(const grpc::Status& status, Effect effect, const std::string& what) const;

  const std::vector<Member> members_;
  std::atomic<size_t> current_{0};  // The member calls go to.
  const std::string describe_;
  const Duration call_timeout_;
  const std::string user_;
  const std::string password_;

  std::mutex mu_;
  std::string token_;  // GUARDED_BY(mu_): the auth token, when a user is set.
};

}  // namespace baton::etcd_detail
