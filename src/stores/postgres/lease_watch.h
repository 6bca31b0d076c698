#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "baton/clock.h"
#include "baton/store.h"

namespace baton::postgres_detail {

// How long after a renewal is due a contender looks for it: the renewal's commit (a WAL flush)
// and both round trips fit in it on a healthy server, and a crash failover costs at most this
// much more than if the contender had been told of the renewal the moment it committed.
inline constexpr Duration kLookAfterRenewal = std::chrono::milliseconds(10);

// What one store has itself seen of each lease, on its own clock: the contender's half of
// SPEC 2.5. The database judges expiry by its clock; a lease that expired without being
// released is taken over only if, in addition, this store has watched the same (holder,
// token, renewals) stay unchanged for the holder's ttl. A live holder changes `renewals` at
// every heartbeat, so such a watch proves by our clock alone that it has not renewed for a
// whole ttl — whatever a step of the database host's wall clock did to its expiry.
//
// A sighting counts from when its reply was *received*: the row was read no later than that,
// and the holder's renewal was sent before it was read, so the holder's own deadline (sent +
// ttl − margin) has passed before first sighting + ttl.
//
// Sightings come from the store's heartbeats and from the release watcher, which hears of
// acquisitions and releases by NOTIFY. Renewals are not announced (each NOTIFY wakes every
// listening session of the database); instead the watch times the holder's renewals and
// advises the contender to look just after the next is due (NextLook), so that a watch
// starts within about kLookAfterRenewal of the renewal, at one statement per heartbeat.
//
// Thread-safe: the store and its release watchers share one.
class LeaseWatch final {
 public:
  // The triple the database must still find for a takeover, and how long it has been seen.
  struct Watched {
    std::string holder;
    uint64_t token = 0;
    uint64_t renewals = 0;
    Duration watched_for{0};
  };

  // What to pass with a heartbeat sent at `now`; nullopt when this lease has not been seen.
  std::optional<Watched> Before(const LeaseKey& key, TimePoint now) const;

  // Records the lease as a reply received at `received` showed it. Starts a new watch when
  // the triple differs from the one being watched. `renewed`, when known, is when on our
  // clock the holder made the renewal (or acquisition) that the triple shows; two of them
  // time the holder's renewal interval.
  void Seen(const LeaseKey& key, const LeaseView& lease, TimePoint received,
            std::optional<TimePoint> renewed = std::nullopt);

  // How much longer, from `now`, this store must watch before it may take the lease over
  // from its current holder, whose ttl is `holder_ttl`; zero when it already may.
  Duration Left(const LeaseKey& key, Duration holder_ttl, TimePoint now) const;

  // When to look next, as of a sighting received at `received`: kLookAfterRenewal after the
  // holder's next renewal is due; after a look that found a due renewal missing, soon again,
  // twice as long each time, until the wait reaches half an interval. Nullopt when the
  // holder's renewals have not been timed.
  std::optional<HeartbeatReply::NextLook> NextLook(const LeaseKey& key, TimePoint received) const;

 private:
  struct Sighting {
    std::string holder;
    uint64_t token = 0;
    uint64_t renewals = 0;
    TimePoint first_seen;
    std::optional<TimePoint> renewed;  // When this triple's renewal was made, on our clock.
    Duration every{0};                 // The holder's renewal interval, as last timed.
    bool timed_on_holder = false;      // `every` was timed on this holder and token.
    int late_looks = 0;                // Looks since its next renewal was due that missed it.
    // The latest renewal of this holder and token whose time is known, to time the next.
    uint64_t timed_renewals = 0;
    std::optional<TimePoint> timed_at;
  };
  // REQUIRES: mu_ held. Times the holder's interval from `s`'s renewal, made at `renewed`.
  static void Time(Sighting& s, TimePoint renewed);
  mutable std::mutex mu_;  // Guards sightings_.
  std::map<std::pair<std::string, std::string>, Sighting> sightings_;
};

}  // namespace baton::postgres_detail
