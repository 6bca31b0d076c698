#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"

namespace baton {

// The name of a group's own lease: the one that names the active instance.
inline constexpr const char* kActiveLease = "active";

enum class MemberRole { kPassive, kActive };
const char* ToString(MemberRole role);

// Who an instance is. `holder` is the id plus a random per-run nonce: it is what the store
// compares, so two processes started with the same id are never taken for one another.
struct MemberInfo {
  std::string id;
  std::string holder;
  std::string host;
  int64_t pid = 0;
  std::string version;
  // Its preference for the active role (`baton run --priority`): an instance of higher
  // priority than the holder asks for a handover when it finds the holder (RequestHandover).
  // 0 by default, never negative.
  int64_t priority = 0;
};

// A member row as the store sees it now. Ages are judged by the store's clock.
struct Member {
  MemberInfo info;
  MemberRole role = MemberRole::kPassive;
  std::chrono::system_clock::time_point started;  // Wall clock, for people only.
  Duration since_heartbeat{0};
  Duration expires_in{0};  // <= 0: expired, waiting to be reaped.
};

// A lease row as the store sees it now.
struct LeaseView {
  std::string holder;     // Empty when free (never taken, or released).
  uint64_t token = 0;     // The fencing token of the current (or last) holder; 0 if never taken.
  uint64_t renewals = 0;  // Renewals since the current holder took it.
  Duration remaining{0};  // Time until expiry by the store's clock; <= 0 when free or expired.

  bool free() const { return holder.empty() || remaining <= Duration::zero(); }
};

struct LeaseKey {
  std::string group;
  std::string name = kActiveLease;
};

enum class LeaseIntent {
  kObserve,  // Leave the lease alone; only report it.
  kAcquire,  // Take it if it is free, expired, or already ours (a new interval, a new token).
  kRenew,    // Extend it if we still hold it with `token` and it has not expired.
};

// One heartbeat: renew the caller's member row (re-inserting it if it was reaped), act on
// one lease, and remove the group's expired member rows — in one atomic round trip. Only the
// lease's holder removes them, and every caller while nobody live holds the lease, so that a
// group of many instances pays for the search once per heartbeat interval, not once per
// instance. A store whose members expire by themselves (etcd) reports none.
struct HeartbeatRequest {
  LeaseKey lease;
  MemberInfo self;
  MemberRole role = MemberRole::kPassive;
  Duration member_ttl{std::chrono::seconds(10)};
  LeaseIntent intent = LeaseIntent::kObserve;
  Duration lease_ttl{std::chrono::seconds(10)};
  uint64_t token = 0;  // kRenew: the token being renewed.
};

struct HeartbeatReply {
  LeaseView lease;        // The lease after this heartbeat.
  bool held = false;      // The caller holds the lease after this heartbeat (lease.token is ours).
  bool acquired = false;  // kAcquire took the lease: lease.token is new.
  std::vector<std::string> reaped;  // Ids of the expired member rows removed.
  // kRenew that held: a handover of this very interval (lease.token) was asked for
  // (RequestHandover). The value is the member id that alone may take the lease next, or
  // empty for any other member. The holder should stop its work and release.
  std::optional<std::string> handover;
};

// A request that the holder of a lease hand it over now (`baton step-down`, and a passive
// instance of higher priority than the holder). It concerns the holder's current interval
// only: once anyone acquires the lease (a new token), it is spent.
struct HandoverRequest {
  LeaseKey lease;
  // The member id that alone may take the lease next. Empty: any other member. A named
  // member has the lease to itself from the release until about two ttl after the request
  // (twice the lease's remaining time then); if it has not taken the lease by then, any
  // instance may.
  std::string to;
  // Only if the holder's member priority is below this (none: whatever its priority).
  std::optional<int64_t> holder_priority_below;
};

enum class HandoverOutcome {
  kRequested,      // Recorded: the holder hands over at its next heartbeat.
  kNoHolder,       // Nobody holds the lease (free or expired): nothing to hand over.
  kUnknownTarget,  // `to` is not a live member of the group, or is the holder itself.
  kNoOtherMember,  // No live member besides the holder could take the lease over.
  kNotLower,       // holder_priority_below is given and the holder's priority is not below it.
};
const char* ToString(HandoverOutcome outcome);

struct HandoverReply {
  HandoverOutcome outcome = HandoverOutcome::kNoHolder;
  LeaseView lease;  // The lease when asked.
};

struct GroupSnapshot {
  LeaseView lease;
  std::vector<Member> members;
};

// How a lease came to a holder: the cause of one entry in a lease's takeover log.
enum class TakeoverCause {
  kFirst,       // The lease had never been held.
  kReleased,    // Its holder had released it (a SIGTERM, an exit).
  kHandover,    // Its holder had released it on request (step-down, --priority).
  kExpired,     // Its holder had stopped renewing: a crash, a pause, a lost store.
  kReacquired,  // The same holder took it anew: its own interval had ended first.
};
// "first", "released", "handover", "expired", "reacquired".
const char* ToString(TakeoverCause cause);
// The cause named as ToString names it; nullopt for any other text.
std::optional<TakeoverCause> TakeoverCauseFromName(const std::string& name);

// One acquisition of a lease, as the store logged it when it happened.
struct Takeover {
  uint64_t token = 0;  // The token it was acquired with.
  std::string holder;  // Who acquired it (HolderId() gives the instance id).
  TakeoverCause cause = TakeoverCause::kFirst;
  std::chrono::system_clock::time_point at;  // The store's wall clock, for people only.
};

// How many entries a store keeps of each lease's takeover log: the newest ones.
inline constexpr int kTakeoversKept = 100;

// What a store's schema says of itself: its version, and the oldest schema version a program
// may know and still use it. A newer schema that stays usable by the previous release says so
// here, so that release keeps running through a rolling upgrade (SPEC 5).
struct SchemaVersion {
  int version = 0;      // 0: no schema yet.
  int usable_from = 0;  // Programs that know this version or a later one can use the schema.

  // Whether a program whose newest schema version is `supported` can use this schema as it
  // is: its own version, or a newer one made to stay usable by it.
  bool UsableBy(int supported) const {
    return version == supported || (version > supported && usable_from <= supported);
  }
};

struct SchemaInfo {
  int found = 0;      // Schema version in the store before the call (0: none).
  int current = 0;    // Schema version after the call.
  int supported = 0;  // Newest version this program knows.
};

// A registration for release notifications; destroying it stops them. Destroy it before the
// store that made it.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// The shared place instances coordinate through. The only code that knows SQL.
//
// Leases change only by atomic conditional writes judged by the store's own clock; a write
// counts only once it is durable. Tokens of a lease only grow and are never reused.
//
// Thread safety: every method may be called from any thread; an implementation serializes
// what it must. Expected outcomes (lease held by another) are values; errors carry an
// ErrorCode that tells the caller whether to retry.
class Store {
 public:
  virtual ~Store() = default;

  // Creates or upgrades the schema (one transaction, under a lock). Idempotent.
  virtual Result<SchemaInfo> Migrate() = 0;

  // Writes the member row of `self` in `group`. Fails with kConflict while another live
  // holder has the same id; replaces an expired row with that id.
  virtual Result<void> Register(const std::string& group, const MemberInfo& self, Duration ttl) = 0;

  virtual Result<HeartbeatReply> Heartbeat(const HeartbeatRequest& request) = 0;

  // Frees the lease if `holder` still holds it with `token`; the token is kept so the next
  // holder's is larger. Returns whether it was released. Best effort: a lease that cannot
  // be released expires by itself.
  virtual Result<bool> Release(const LeaseKey& lease, const std::string& holder,
                               uint64_t token) = 0;

  // Deletes the member row of `self` if it is still its holder's.
  virtual Result<void> Unregister(const std::string& group, const MemberInfo& self) = 0;

  // Asks the holder of `request.lease` to hand it over (see HandoverRequest), and wakes it
  // through the same channel as WatchReleases, so it acts within milliseconds rather than at
  // its next heartbeat. Expected refusals are outcomes, not errors.
  virtual Result<HandoverReply> RequestHandover(const HandoverRequest& request) = 0;

  virtual Result<GroupSnapshot> Snapshot(const std::string& group,
                                         const std::string& lease_name = kActiveLease) = 0;

  // Every group that has a member or a lease in the store, by name.
  virtual Result<std::vector<std::string>> Groups() = 0;

  // The newest `limit` entries of the lease's takeover log (at most kTakeoversKept), newest
  // first. Every acquisition is logged in the same commit as the acquisition itself.
  virtual Result<std::vector<Takeover>> Takeovers(const LeaseKey& lease, int limit) = 0;

  // Calls `on_release` (from a thread of the store's) soon after `lease` is released by its
  // holder, so waiting instances can take it at once instead of at their next heartbeat, and
  // soon after a handover of it is requested, so its holder acts on it at once. Spurious
  // calls are allowed. The callback must be quick and must not call the store.
  virtual std::unique_ptr<Subscription> WatchReleases(const LeaseKey& lease,
                                                      std::function<void()> on_release) = 0;

  // A description for logs and errors: kind and location, never a password.
  virtual std::string Describe() const = 0;

  // The key whose version the user's own writes to this store can compare with the token
  // (etcd: the lease's key, whose create_revision is the token), for `status`; empty for a
  // store that fences through its own tables and functions (SQLite, PostgreSQL).
  virtual std::string FencingKey(const LeaseKey& /*lease*/) const { return {}; }

  // How long after its owner's last heartbeat a member row registered with `ttl` may still
  // be seen: how long a restarted instance waits for the row of its dead predecessor with
  // the same id before it calls the id taken. `ttl` on stores that expire rows by their own
  // clock at every read.
  virtual Duration MemberExpiryBound(Duration ttl) const { return ttl; }
};

// For store implementations: kInvalidArgument unless `group`, `self.id` and `self.holder`
// are all set.
Result<void> CheckMemberIdentity(const std::string& group, const MemberInfo& self);

// For store implementations: Ok when a program whose newest schema version is `supported` can
// use the schema `found` in the store `describe` names (SchemaVersion::UsableBy); otherwise
// kSchemaMismatch naming both versions and what to do: upgrade baton, or run `baton migrate`.
Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found, int supported);

}  // namespace baton
