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
// every renewal, acquisition and release of its lease by NOTIFY the moment it commits; so an
// instance that was already watching loses no failover time to its own watch.
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
  // the triple differs from the one being watched.
  void Seen(const LeaseKey& key, const LeaseView& lease, TimePoint received);

  // How much longer, from `now`, this store must watch before it may take the lease over
  // from its current holder, whose ttl is `holder_ttl`; zero when it already may.
  Duration Left(const LeaseKey& key, Duration holder_ttl, TimePoint now) const;

 private:
  struct Sighting {
    std::string holder;
    uint64_t token = 0;
    uint64_t renewals = 0;
    TimePoint first_seen;
  };
  mutable std::mutex mu_;  // Guards sightings_.
  std::map<std::pair<std::string, std::string>, Sighting> sightings_;
};

}  // namespace baton::postgres_detail
