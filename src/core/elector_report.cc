// What the elector tells its LoopObserver after each pass of Run()'s loop, and its EventSink.
#include <string>

#include "baton/elector.h"

namespace baton {

void Elector::ReportPass(TimePoint next, const std::optional<Error>& error) {
  if (options_.observer == nullptr) return;
  LoopPass pass;
  pass.next = next;
  pass.error = error;
  {
    std::lock_guard lock(mu_);
    if (!registered_) {
      pass.state = "registering";
    } else if (active_) {
      pass.state = "active with token " + std::to_string(token_);
    } else if (!last_holder_id_.empty() && last_holder_id_ != options_.self.id) {
      pass.state = "passive (active: " + last_holder_id_ + ")";
    } else {
      pass.state = "passive";
    }
  }
  options_.observer->OnPass(pass);
}

void Elector::Publish(Event event) const {
  if (options_.events == nullptr) return;
  event.group = options_.lease.group;
  event.name = options_.lease.name;
  options_.events->OnEvent(event);
}

}  // namespace baton
