#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "baton/store.h"
#include "client.h"

namespace baton::etcd_detail {

// Store::WatchReleases on etcd: a watch on the lease's keys (holder and handover) that calls
// `on_change` at every event (a release, an expiry, an acquisition, a handover request). When
// the stream breaks it is opened again (on another member if need be) and `on_change` is
// called once, since an event may have been missed.
class ReleaseWatch final : public Subscription {
 public:
  ReleaseWatch(Client& client, std::string prefix, std::function<void()> on_change);
  ~ReleaseWatch() override;

 private:
  void Loop();

  Client& client_;
  const std::string prefix_;
  const std::function<void()> on_change_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  grpc::ClientContext* context_ = nullptr;  // GUARDED_BY(mu_): the stream's, to cancel.
  std::thread thread_;
};

}  // namespace baton::etcd_detail
