#include "release_watch.h"

#include "keys.h"

namespace baton::etcd_detail {
namespace {

constexpr Duration kReopenAfter = std::chrono::milliseconds(200);

}  // namespace

ReleaseWatch::ReleaseWatch(Client& client, std::string prefix, std::function<void()> on_change)
    : client_(client), prefix_(std::move(prefix)), on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { Loop(); });
}

ReleaseWatch::~ReleaseWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  cv_.notify_all();
  thread_.join();
}

void ReleaseWatch::Loop() {
  bool first = true;
  while (true) {
    grpc::ClientContext context;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      context_ = &context;
    }
    if (client_.PrepareStream(context)) {
      auto stream = client_.watch_stub().Watch(&context);
      pb::WatchRequest request;
      request.mutable_create_request()->set_key(prefix_);
      request.mutable_create_request()->set_range_end(PrefixEnd(prefix_));
      if (stream->Write(request)) {
        pb::WatchResponse response;
        while (stream->Read(&response)) {
          // The first response confirms the watch; after a broken stream, a change may have
          // been missed meanwhile: say so once.
          if (response.created()) {
            if (!first) on_change_();
            first = false;
          }
          if (response.events_size() > 0) on_change_();
        }
      }
      (void)stream->Finish();
    }
    std::unique_lock lock(mu_);
    context_ = nullptr;
    if (stopping_) return;
    // The member may be gone: the next stream, and the next calls, try another.
    client_.MoveOn();
    if (cv_.wait_for(lock, kReopenAfter, [this] { return stopping_; })) return;
  }
}

}  // namespace baton::etcd_detail
