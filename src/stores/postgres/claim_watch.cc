#include "claim_watch.h"

#include <algorithm>
#include <set>

namespace baton::postgres_detail {

std::vector<ClaimWatch::Watched> ClaimWatch::Before(TimePoint now) const {
  std::lock_guard lock(mu_);
  std::vector<Watched> out;
  out.reserve(sightings_.size());
  for (const auto& [item, s] : sightings_) {
    out.push_back({s.claim, std::max(Duration::zero(), now - s.first_seen)});
  }
  return out;
}

void ClaimWatch::Seen(const std::vector<Claim>& running, bool complete, TimePoint received) {
  std::lock_guard lock(mu_);
  last_listing_ = received;
  std::set<uint64_t> listed;
  for (const Claim& claim : running) {
    listed.insert(claim.item);
    auto [it, inserted] = sightings_.try_emplace(claim.item, Sighting{claim, received});
    Sighting& s = it->second;
    if (!inserted && (s.claim.token != claim.token || s.claim.extensions != claim.extensions)) {
      s = Sighting{claim, received};
    }
  }
  if (!complete) return;
  for (auto it = sightings_.begin(); it != sightings_.end();) {
    it = listed.contains(it->first) ? std::next(it) : sightings_.erase(it);
  }
}

Duration ClaimWatch::Left(uint64_t item, Duration visibility, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = sightings_.find(item);
  if (it == sightings_.end()) return visibility;
  return std::max(Duration::zero(), it->second.first_seen + visibility - now);
}

bool ClaimWatch::ListingDue(TimePoint now, Duration every) const {
  std::lock_guard lock(mu_);
  return !last_listing_ || now - *last_listing_ >= every;
}

}  // namespace baton::postgres_detail
