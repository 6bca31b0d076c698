#include "lease_watch.h"

#include <algorithm>

namespace baton::postgres_detail {

std::optional<LeaseWatch::Watched> LeaseWatch::Before(const LeaseKey& key, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = sightings_.find({key.group, key.name});
  if (it == sightings_.end() || it->second.holder.empty()) return std::nullopt;
  const Sighting& s = it->second;
  return Watched{.holder = s.holder,
                 .token = s.token,
                 .renewals = s.renewals,
                 .watched_for = std::max(Duration::zero(), now - s.first_seen)};
}

void LeaseWatch::Seen(const LeaseKey& key, const LeaseView& lease, TimePoint received) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = sightings_.try_emplace({key.group, key.name});
  Sighting& s = it->second;
  if (!inserted && s.holder == lease.holder && s.token == lease.token &&
      s.renewals == lease.renewals) {
    return;
  }
  s = Sighting{.holder = lease.holder,
               .token = lease.token,
               .renewals = lease.renewals,
               .first_seen = received};
}

Duration LeaseWatch::Left(const LeaseKey& key, Duration holder_ttl, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = sightings_.find({key.group, key.name});
  if (it == sightings_.end()) return holder_ttl;
  return std::max(Duration::zero(), it->second.first_seen + holder_ttl - now);
}

}  // namespace baton::postgres_detail
