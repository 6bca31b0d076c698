#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "baton/clock.h"

namespace baton::postgres_detail {

// What one queue handle has itself seen of the running claims, on its own clock: the claim
// counterpart of LeaseWatch (SPEC 3.3). The database judges a claim's expiry by its clock;
// an expired claim is taken back only if, in addition, this handle has watched the same
// (item, claim token, extension count) stay unchanged for the claim's visibility. A live
// worker extends every visibility/3, which changes the extension count, so such a watch proves
// by our clock alone that the worker has not extended for a whole visibility — whatever a
// step of the database host's clock did to the expiry.
//
// A sighting counts from when the reply that showed it was received: the row was read no
// later than that, and the worker's last extension was sent before it was read.
//
// Thread-safe.
class ClaimWatch final {
 public:
  struct Claim {
    uint64_t item = 0;
    uint64_t token = 0;
    uint64_t extensions = 0;
  };
  struct Watched {
    Claim claim;
    Duration watched_for{0};
  };

  // What to send with a claim sent at `now`: every claim being watched.
  std::vector<Watched> Before(TimePoint now) const;
  // Records the running claims a reply received at `received` listed. When `complete`, the
  // list was the queue's every running claim, and claims not in it are forgotten.
  void Seen(const std::vector<Claim>& running, bool complete, TimePoint received);
  // How much longer from `now` this handle must watch `item` before it may take it back.
  Duration Left(uint64_t item, Duration visibility, TimePoint now) const;
  // Whether a claim sent at `now` should list the running claims: no reply listed them
  // within `every` before it.
  bool ListingDue(TimePoint now, Duration every) const;

 private:
  struct Sighting {
    Claim claim;
    TimePoint first_seen;
  };
  mutable std::mutex mu_;  // Guards sightings_.
  std::map<uint64_t, Sighting> sightings_;
  std::optional<TimePoint> last_listing_;  // When the last reply that listed claims came.
};

}  // namespace baton::postgres_detail
