// Elector::AskForTheRole: planned failback. A passive instance of higher priority than the
// holder asks it, through the store, to hand the lease over; the holder does so at its next
// renewal (Elector::Tick), as it would for `baton step-down --to`.

#include <spdlog/spdlog.h>

#include "baton/elector.h"

namespace baton {

void Elector::AskForTheRole(const LeaseView& lease) {
  // Once per interval: an answer of "not lower" stays true until the holder changes, and two
  // instances of equal priority never ask each other, so the role never flaps.
  if (lease.free() || lease.holder == options_.self.holder || lease.token == asked_token_) return;
  Result<HandoverReply> reply =
      store_.RequestHandover({.lease = options_.lease,
                              .to = options_.self.id,
                              .holder_priority_below = options_.self.priority});
  if (!reply) {
    spdlog::warn(
        "could not ask for the active role (priority {}): {}; asking again at the next "
        "heartbeat",
        options_.self.priority, reply.error().message());
    return;
  }
  asked_token_ = lease.token;
  if (reply->outcome == HandoverOutcome::kRequested) {
    const std::string& holder = reply->lease.holder;
    spdlog::info(
        "asked the active instance {} (token {}) to hand over to this one: its priority "
        "is lower than {}",
        HolderId(holder), reply->lease.token, options_.self.priority);
  }
}

}  // namespace baton
