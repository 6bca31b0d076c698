#pragma once

#include <chrono>

#include "baton/clock.h"

// How the threads that wait for notifications (release_listener.h, offer_watcher.h) pace
// themselves: how long one wait lasts before a thread looks at its stop flag again (a stop
// also ends it at once, through an eventfd), and how it backs off from a server it cannot
// reach.
namespace baton::postgres_detail {

inline constexpr Duration kListenSlice = std::chrono::seconds(5);
inline constexpr Duration kFirstBackoff = std::chrono::milliseconds(50);
inline constexpr Duration kMaxBackoff = std::chrono::seconds(5);

}  // namespace baton::postgres_detail
