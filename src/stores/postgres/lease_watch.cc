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

void LeaseWatch::Seen(const LeaseKey& key, const LeaseView& lease, TimePoint received,
                      std::optional<TimePoint> renewed) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = sightings_.try_emplace({key.group, key.name});
  Sighting& s = it->second;
  if (!inserted && s.holder == lease.holder && s.token == lease.token &&
      s.renewals == lease.renewals) {
    if (!s.renewed && renewed) {
      s.renewed = renewed;
      Time(s, *renewed);
    }
    if (s.renewed && s.every > Duration::zero() &&
        received >= *s.renewed + s.every + kLookAfterRenewal) {
      ++s.late_looks;
    }
    return;
  }
  Sighting next{.holder = lease.holder,
                .token = lease.token,
                .renewals = lease.renewals,
                .first_seen = received,
                .renewed = renewed,
                // A new holder likely renews as often as the last one did, until it is timed.
                .every = s.every,
                .timed_on_holder = false,
                .late_looks = 0,
                .timed_renewals = 0,
                .timed_at = std::nullopt};
  if (!inserted && s.holder == lease.holder && s.token == lease.token) {
    next.timed_on_holder = s.timed_on_holder;
    next.timed_renewals = s.timed_renewals;
    next.timed_at = s.timed_at;
  }
  if (renewed) Time(next, *renewed);
  s = std::move(next);
}

void LeaseWatch::Time(Sighting& s, TimePoint renewed) {
  if (s.timed_at && s.renewals > s.timed_renewals) {
    const Duration timed =
        (renewed - *s.timed_at) / static_cast<int64_t>(s.renewals - s.timed_renewals);
    // A holder keeps its interval; a renewal made late (a slow call, a paused process) would
    // stretch one timing, which the next renewal, made on time, would not confirm.
    if (timed > Duration::zero() && (!s.timed_on_holder || timed < s.every * 3 / 2)) {
      s.every = timed;
      s.timed_on_holder = true;
    }
  }
  s.timed_renewals = s.renewals;
  s.timed_at = renewed;
}

Duration LeaseWatch::Left(const LeaseKey& key, Duration holder_ttl, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = sightings_.find({key.group, key.name});
  if (it == sightings_.end()) return holder_ttl;
  return std::max(Duration::zero(), it->second.first_seen + holder_ttl - now);
}

std::optional<HeartbeatReply::NextLook> LeaseWatch::NextLook(const LeaseKey& key,
                                                             TimePoint received) const {
  std::lock_guard lock(mu_);
  auto it = sightings_.find({key.group, key.name});
  if (it == sightings_.end()) return std::nullopt;
  const Sighting& s = it->second;
  if (s.holder.empty() || !s.renewed || s.every <= Duration::zero()) return std::nullopt;
  const TimePoint due = *s.renewed + s.every + kLookAfterRenewal;
  if (received < due) return HeartbeatReply::NextLook{.in = due - received, .every = s.every};
  // The renewal is late (a slow holder, or a dead one whose lease will run out): look again
  // soon, at a growing interval, rather than a whole heartbeat later.
  const Duration again = kLookAfterRenewal * (int64_t{1} << std::clamp(s.late_looks - 1, 0, 20));
  if (again >= s.every / 2) return std::nullopt;
  return HeartbeatReply::NextLook{.in = again, .every = Duration::zero()};
}

}  // namespace baton::postgres_detail
