#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"
#include "baton/store.h"

namespace baton {

struct EtcdStoreOptions {
  // The cluster's client endpoints, "host:port" each; every one is tried, so a member down
  // or a leader change costs a retry, not the lease.
  std::vector<std::string> endpoints;
  // Every key baton writes starts with this; separate prefixes are separate stores.
  std::string prefix = "baton/";
  // TLS (etcds://): PEM files. An empty `ca_file` with `tls` uses the system's roots; `cert_file`
  // and `key_file` together give a client certificate.
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd authentication. Never logged; the store keeps the token etcd returns and asks again
  // when it expires.
  std::string user;
  std::string password;
  // Every local timeout. Default: the real clock. Must outlive the store.
  Clock* clock = nullptr;
  // Write the version key when it is missing (`baton run` on a new cluster). Off: refused
  // until `baton migrate`.
  bool create_schema = true;
  // Bound on each request: a call not answered by then fails with kUnavailable (a read) or
  // kOutcomeUnknown (a write) and the caller retries, on another member if need be.
  Duration call_timeout = std::chrono::seconds(2);
  // Test only: take a lease whose key vanished before etcd's own expiry time at once, as if
  // etcd never revoked a lease early (see OpenEtcdStore), so a test can show the guard works.
  bool unsafe_trust_early_vanish = false;
};

// Opens the store on an etcd v3 cluster (SPEC 8).
//
// The group's lease is a key created only if absent (a transaction on create_revision == 0),
// attached to the holder instance's etcd lease; its fencing token is the key's
// create_revision, which only grows across the cluster. Each instance has one etcd lease per
// group, of the heartbeat's ttl rounded up to whole seconds (etcd's unit; never shorter, so
// never less safe), and its member key is attached to it: a crashed instance's key vanishes
// when etcd expires its lease, decided by the etcd leader on its monotonic clock. A
// heartbeat is one LeaseKeepAlive and one linearizable read of the lease's two keys (the
// holder and a handover request); taking a free lease adds one transaction. Release deletes
// the key; Unregister revokes the instance's etcd lease.
//
// Fencing for the user's own etcd writes: compare the lease key's create_revision with the
// token (`baton status` names the key; Store::FencingKey gives it) in the same transaction
// as the write.
//
// etcd before 3.4.28 / 3.5.11 can revoke live leases: a leader whose raft loop stalled
// (paused, a slow disk) revokes, once it runs again, every lease it saw no renewal of, and the
// new leader commits it (etcd-io/etcd#15247). A holder's key then vanishes before its deadline.
// So a contender that sees the key vanish before the time etcd last promised (the holder's
// remaining time as it read it, in whole seconds) without the holder's release waits one ttl,
// by which the holder's deadline has passed, before it takes the lease. The guard needs
// ttl >= 2 s (etcd's seconds).
//
// Queues are not offered on etcd (they need an SQL store).
//
// If no endpoint answers now, the store is returned anyway and every call fails with
// kUnavailable until one does. kInvalidArgument for no endpoint or unreadable TLS files,
// kSchemaMismatch for a version key this program cannot use.
Result<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options);

// The version the etcd store's version key has when this program writes it.
int EtcdSchemaVersion();

}  // namespace baton
