#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"
#include "baton/store.h"

namespace baton {

// Limits every Queue enforces (SPEC 3).
inline constexpr size_t kMaxTenantBytes = 200;         // ValidateTenant.
inline constexpr size_t kMaxPayloadBytes = 64 * 1024;  // One item's payload.
inline constexpr size_t kMaxErrorBytes = 4 * 1024;     // The error tail Fail keeps.
// Rows one write transaction touches at most: Offer, Purge and RequeueDead split bigger
// calls into several transactions, so a big round cannot hold SQLite's single write lock
// (and with it every heartbeat of the host) for long (SPEC 3.9).
inline constexpr int kMaxRowsPerTransaction = 500;
// Items one Claim returns at most; a larger max_items is cut to this.
inline constexpr int kMaxClaimItems = 500;
// How often Release gives an item's attempt back; later releases count the attempt.
inline constexpr int kMaxReleases = 3;

// Checks a tenant key: not empty, at most kMaxTenantBytes, valid UTF-8, no control
// characters. kInvalidArgument naming `what` ("tenant of item 3") otherwise.
Result<void> ValidateTenant(std::string_view tenant, const std::string& what = "the tenant");

// A queue is named within its group.
struct QueueKey {
  std::string group;
  std::string queue;
};

// One item to offer.
struct OfferItem {
  std::string tenant;   // ValidateTenant.
  std::string payload;  // Any bytes, at most kMaxPayloadBytes.
  int priority = 0;     // Within the tenant: higher first.
  Duration delay{0};    // Claimable only this long after the offer.
  // Dropped unprocessed (and counted as expired) if still never claimed this long after the
  // offer. Once claimed, an item never expires. nullopt: no time-to-live.
  std::optional<Duration> ttl;
};

// A lease of the queue's group whose current holding the offer depends on.
struct OfferFence {
  std::string lease;   // For example "queue:<name>", the queue's scheduler lease.
  uint64_t token = 0;  // The holder's fencing token.
};

struct OfferRequest {
  QueueKey queue;
  std::vector<OfferItem> items;
  // A tenant that already has a pending, waiting-to-retry or running item in this queue gets
  // no new one (its item is "skipped"); an expired pending item is replaced. Enforced by the
  // store even when several offerers race.
  bool unique = false;
  // When set, each transaction of the offer inserts only while `fence.lease` of the group is
  // held with `fence.token` (checked in that transaction); otherwise it inserts nothing.
  std::optional<OfferFence> fence;
};

struct OfferReply {
  // Per item of the request, in order: its new id, or nullopt when it was skipped (unique) or
  // not offered (fenced out).
  std::vector<std::optional<uint64_t>> ids;
  // The fence did not hold. Transactions before the one that found it so were committed
  // (their ids are set); nothing after it was inserted.
  bool fenced_out = false;
};

// A scheduler's round (SPEC 3.1): asks the store whether a round of `queue` may run now and,
// if so, records its time, fenced like an offer.
struct RoundRequest {
  QueueKey queue;
  OfferFence fence;  // The scheduler's lease ("queue:<name>") and token.
  Duration every{std::chrono::seconds(45)};
};

struct RoundReply {
  // The fence did not hold: nothing was read or recorded.
  bool fenced_out = false;
  // The round may run now: the store's now is recorded as the queue's last round.
  bool started = false;
  // Not started: how long until the round is due (last round + every, by the store's clock).
  Duration wait{0};
  // The store's now minus the last round before this call; nullopt when the queue had no
  // round yet (or, on SQLite, its last one was in another boot of the host). Negative: the
  // last round lies in the future, a step of the store's clock; the store then records now
  // and does not start, so the next round comes one `every` later (`wait`), not never and
  // not at once.
  std::optional<Duration> since_last;
};

// What a call with a claim token found.
enum class ClaimOutcome {
  kOk,         // Done: the token was the item's live claim.
  kStale,      // Not yours any more: the item was claimed again, finished or removed.
  kCancelled,  // The item was cancelled or purged while running: stop its work now.
};
const char* ToString(ClaimOutcome outcome);

// A claim as a worker holds it.
struct ClaimRef {
  uint64_t item = 0;
  uint64_t claim_token = 0;
};

struct ClaimRequest {
  QueueKey queue;
  std::string worker;  // Who claims, for `list` and logs.
  int max_items = 1;   // 1 .. kMaxClaimItems.
  Duration visibility = std::chrono::seconds(30);
  // An item whose claim expired (or that is pending) with this many attempts already made
  // goes to the dead letters instead of being claimed again.
  int max_attempts = 5;
  // Claims whose items are done, acknowledged first (as by Acknowledge, also when the queue
  // is paused), in the same transaction as the claim: a busy worker pays one round trip per
  // item, not two. At most kMaxRowsPerTransaction. When Claim fails, whether they were
  // acknowledged is unknown: acknowledge them again (one already acknowledged is kStale).
  std::vector<ClaimRef> acknowledge;
};

struct ClaimedItem {
  uint64_t id = 0;
  std::string tenant;
  std::string payload;
  int attempt = 0;  // 1 for the first claim; a release may give one back.
  // New at every claim, never reused in the store: Extend, Acknowledge, Fail, Release and
  // the user's check_claim need it.
  uint64_t claim_token = 0;
};

struct ClaimReply {
  std::vector<ClaimedItem> items;
  // One outcome per ClaimRequest::acknowledge, in order.
  std::vector<ClaimOutcome> acknowledged;
  bool paused = false;  // The queue is paused: nothing was claimed.
  // When, from now, another claim may find something: a delayed or retrying item becomes
  // ready, a running claim expires, a busy tenant's claim ends... (0: now). nullopt when the
  // queue holds nothing that could ever be claimed without a new offer. An idle worker waits
  // until then (or an offer's wake-up, or its poll). A store may leave it unset when every
  // item asked for was claimed: claim again as soon as a slot is free.
  std::optional<Duration> next_try;
};

struct FailRequest {
  std::string error;  // The tail of the work's error output; the last kMaxErrorBytes are kept.
  std::optional<int> exit_code;
  Duration retry_after{0};  // The backoff, with jitter, the caller computed.
  bool dead_now = false;    // A poison item (exit 65) or no attempts left: dead-letter it.
};

struct FailReply {
  ClaimOutcome outcome = ClaimOutcome::kOk;
  bool dead = false;  // kOk: it went to the dead letters.
};

enum class ItemState {
  kPending,    // Ready to claim, or waiting for its delay or retry (`ready_in` > 0).
  kRunning,    // Claimed.
  kCancelled,  // Cancelled while running: keeps its tenant's slot until the work stops.
  kDead,       // In the dead letters.
};
const char* ToString(ItemState state);

// An item as `list` and `dead` show it.
struct ItemView {
  uint64_t id = 0;
  std::string tenant;
  ItemState state = ItemState::kPending;
  int priority = 0;
  int attempts = 0;
  std::string payload;
  std::chrono::system_clock::time_point offered;  // Wall clock, for people only.
  Duration ready_in{0};                           // Pending: time until claimable (<= 0: now).
  Duration claim_left{0};  // Running, cancelled: time until the claim expires.
  std::string claimed_by;  // Running, cancelled.
  std::string last_error;  // From the last failure, if any.
  std::optional<int> exit_code;
};

struct TenantStats {
  std::string tenant;
  std::optional<std::chrono::system_clock::time_point> last_success;  // Wall clock.
  std::optional<std::chrono::system_clock::time_point> last_failure;
  std::string last_error;
};

struct QueueStats {
  bool paused = false;
  // Depth by state, now.
  int64_t pending = 0;                         // Ready to claim.
  int64_t waiting = 0;                         // Delayed, or waiting to retry.
  int64_t running = 0;                         // Claimed (cancelled ones included).
  int64_t dead = 0;                            // In the dead letters.
  int64_t tenants_pending = 0;                 // Tenants with a pending or waiting item.
  std::optional<Duration> oldest_pending_age;  // Since the offer of the oldest ready item.
  // Totals over the queue's life.
  int64_t done_total = 0;
  int64_t failed_total = 0;  // Failed attempts, expired claims included.
  int64_t dead_total = 0;
  int64_t expired_total = 0;         // Dropped unprocessed past their time-to-live.
  std::vector<TenantStats> tenants;  // Every tenant the queue has seen, by name.
};

// What a queue's workers finished in one minute, all of them together.
struct MinuteCounts {
  std::chrono::system_clock::time_point minute;  // Its start, by the store's wall clock.
  int64_t done = 0;
  int64_t failed = 0;  // Failed attempts, expired claims included.
  int64_t dead = 0;
};

// How many minutes of counts a store keeps of each queue: the latest.
inline constexpr int kMinutesKept = 60;

enum class CancelOutcome {
  kNotFound,    // No such item in the queue.
  kRemoved,     // It was pending or dead: gone.
  kCancelling,  // It was running: marked; it keeps its tenant's slot until its work stops.
};

struct PurgeReply {
  int64_t removed = 0;    // Pending, waiting and dead items deleted.
  int64_t cancelled = 0;  // Running items marked cancelled.
};

// The work queues of a store: per-tenant items offered by a scheduler and claimed by every
// instance (SPEC 3). It reaches the store through a connection of its own, so queue traffic
// never waits behind (or delays) a heartbeat on the client.
//
// Guarantees, whatever the number of handles and processes:
//  - at most one claimed item per (group, queue, tenant) at once, enforced by the store; a
//    claim skips a busy tenant instead of failing or waiting;
//  - a claim serves the tenant served longest ago first (round-robin across tenants), and
//    within a tenant by priority (higher first), then ready time, then id;
//  - a claim token is new at every claim and never reused in the store; a call with a stale
//    token changes nothing and returns kStale;
//  - an item leaves only by acknowledgement, dead-lettering, expiry while never claimed,
//    cancellation or purge.
// A claim whose visibility passed is judged by the store's clock, and is claimed again (a
// new token, the attempt counted) only by a later Claim; until then its worker may still
// extend or acknowledge it.
//
// Every write is one short transaction of at most kMaxRowsPerTransaction rows. An unknown
// queue is an empty answer, not an error. Errors are values with an ErrorCode.
//
// Thread safety: every method may be called from any thread; an implementation serializes
// its use of its connection.
class Queue {
 public:
  virtual ~Queue() = default;

  // Offers `request.items` (see OfferRequest). kInvalidArgument, naming the item, for a bad
  // tenant or an oversized payload; nothing is offered then.
  virtual Result<OfferReply> Offer(const OfferRequest& request) = 0;

  // Starts a scheduler's round if one is due (see RoundRequest, RoundReply): one transaction,
  // under the same fence as Offer, so two schedulers never both start a round within `every`
  // and a deposed one records nothing. REQUIRES: request.every > 0.
  virtual Result<RoundReply> StartRound(const RoundRequest& request) = 0;

  // Claims up to `request.max_items` ready items, each of a different free tenant. First
  // acknowledges `request.acknowledge` (their tenants are free for this claim), drops
  // never-claimed items past their time-to-live and takes back expired claims (to the dead
  // letters when their attempts are used up). Returns no items and paused when paused.
  virtual Result<ClaimReply> Claim(const ClaimRequest& request) = 0;

  // Pushes the claim's expiry to now + `visibility`.
  virtual Result<ClaimOutcome> Extend(const QueueKey& queue, const ClaimRef& claim,
                                      Duration visibility) = 0;

  // Finishes the claimed items (done). One transaction for all; outcomes in order. A
  // cancelled item is removed (its slot freed) and reported kCancelled.
  virtual Result<std::vector<ClaimOutcome>> Acknowledge(const QueueKey& queue,
                                                        const std::vector<ClaimRef>& claims) = 0;

  // Fails the attempt: retried after `retry_after`, or dead-lettered when `dead_now`.
  virtual Result<FailReply> Fail(const QueueKey& queue, const ClaimRef& claim,
                                 const FailRequest& failure) = 0;

  // Gives the claim up (a stopping worker) so another takes it at once; gives the attempt
  // back at most kMaxReleases times per item.
  virtual Result<ClaimOutcome> Release(const QueueKey& queue, const ClaimRef& claim) = 0;

  // Administration (SPEC 3.10).
  // The names of `group`'s queues (every queue ever offered to or paused), in name order.
  // Every group that has a queue, by name.
  virtual Result<std::vector<std::string>> QueueGroups() = 0;
  virtual Result<std::vector<std::string>> QueueNames(const std::string& group) = 0;
  virtual Result<QueueStats> Stats(const QueueKey& queue) = 0;
  // Up to `limit` items, oldest first, of `state` or of every state.
  virtual Result<std::vector<ItemView>> List(const QueueKey& queue, std::optional<ItemState> state,
                                             int limit) = 0;
  virtual Result<std::vector<ItemView>> DeadLetters(const QueueKey& queue, int limit) = 0;
  // The counts of each of the last `minutes` minutes (at most kMinutesKept) in which anything
  // finished, oldest first; the current minute, so far, last. Written in the same commit as
  // what they count, without making workers wait on each other for it.
  virtual Result<std::vector<MinuteCounts>> Throughput(const QueueKey& queue, int minutes) = 0;
  // Brings dead item `id` back, ready now with its attempts reset. false: no such dead item.
  virtual Result<bool> Requeue(const QueueKey& queue, uint64_t id) = 0;
  // Requeue for every dead item; returns how many.
  virtual Result<int64_t> RequeueDead(const QueueKey& queue) = 0;
  virtual Result<CancelOutcome> Cancel(const QueueKey& queue, uint64_t id) = 0;
  // Removes every pending, waiting and dead item and cancels the running ones.
  virtual Result<PurgeReply> Purge(const QueueKey& queue) = 0;
  // While paused, claims return nothing and say so; running items finish.
  virtual Result<void> Pause(const QueueKey& queue) = 0;
  virtual Result<void> Resume(const QueueKey& queue) = 0;

  // Calls `on_offer` (from a thread of the queue's) soon after an offer to `queue` commits,
  // by any process. Spurious calls are allowed. The callback must be quick and must not call
  // the queue. Destroying the subscription stops the calls.
  virtual std::unique_ptr<Subscription> WatchOffers(const QueueKey& queue,
                                                    std::function<void()> on_offer) = 0;

  // A description for logs and errors: kind and location, never a password.
  virtual std::string Describe() const = 0;

  // How many Claim calls a worker may usefully have out at once: the store serves that many
  // side by side (PostgreSQL, on connections of the handle's own), or one at a time (SQLite,
  // one writer).
  virtual int ConcurrentClaims() const { return 1; }
};

namespace queue_detail {

// For implementations: checks the key's names, the tenants and the payloads of `request`.
Result<void> CheckOffer(const OfferRequest& request);
Result<void> CheckQueueKey(const QueueKey& queue);
Result<void> CheckClaim(const ClaimRequest& request);
// At most kMaxRowsPerTransaction claims to acknowledge in one call (Acknowledge, or Claim's).
Result<void> CheckAcknowledge(const std::vector<ClaimRef>& claims);
// The last kMaxErrorBytes of `error`, with invalid UTF-8 and NUL bytes replaced by '?', so
// any store can keep it as text.
std::string ErrorTail(std::string_view error);

}  // namespace queue_detail

}  // namespace baton
