// EtcdStore::Groups, EtcdStore::Takeovers, and the takeover log's writing (LogTakeover).
//
// etcd keeps no log of its own that outlives compaction, so each acquisition is written as one
// key under g/<group>/t/<lease>/, named by its token (the revision of the transaction that
// took the lease, known only from its reply). The holder writes it at its first renewal, so
// that the acquisition itself returns at once; a holder that dies before renewing leaves its
// acquisition out of the log. The lease itself is never affected.

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "etcd_store_impl.h"

namespace baton::etcd_detail {

Result<std::vector<std::string>> EtcdStore::Groups() {
  if (auto r = Ready(); !r) return r.error();
  pb::RangeRequest range;
  range.set_key(keys_.Groups());
  range.set_range_end(PrefixEnd(keys_.Groups()));
  range.set_keys_only(true);
  auto read = client_->Range(range, "listing the groups");
  if (!read) return read.error();
  std::vector<std::string> groups;
  for (const Kv& kv : read->kvs()) {
    std::string group = keys_.GroupOf(kv.key());
    if (!group.empty()) groups.push_back(std::move(group));
  }
  // Keys sort by escaped name, which is not the names' order.
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return groups;
}

Result<std::vector<Takeover>> EtcdStore::Takeovers(const LeaseKey& lease, int limit) {
  if (auto r = Ready(); !r) return r.error();
  const std::string prefix = keys_.TakeoverLog(lease.group, lease.name);
  pb::RangeRequest range;
  range.set_key(prefix);
  range.set_range_end(PrefixEnd(prefix));
  range.set_sort_order(pb::RangeRequest::DESCEND);
  range.set_sort_target(pb::RangeRequest::KEY);
  range.set_limit(std::clamp(limit, 0, kTakeoversKept));
  if (limit <= 0) return std::vector<Takeover>{};
  auto read = client_->Range(range, "reading the takeover log");
  if (!read) return read.error();
  std::vector<Takeover> takeovers;
  for (const Kv& kv : read->kvs()) {
    const auto entry = nlohmann::json::parse(kv.value(), nullptr, false);
    const std::optional<TakeoverCause> cause =
        entry.is_object() && entry.value("cause", nlohmann::json()).is_string()
            ? TakeoverCauseFromName(entry["cause"].get<std::string>())
            : std::nullopt;
    if (!cause || !entry.value("holder", nlohmann::json()).is_string() ||
        !entry.value("at_ms", nlohmann::json()).is_number_integer()) {
      return Error(ErrorCode::kInternal,
                   client_->describe() + ": a takeover log entry is not ours: " + kv.key());
    }
    takeovers.push_back(Takeover{.token = std::stoull(kv.key().substr(prefix.size())),
                                 .holder = entry["holder"].get<std::string>(),
                                 .cause = *cause,
                                 .at = std::chrono::system_clock::time_point(
                                     std::chrono::milliseconds(entry["at_ms"].get<int64_t>()))});
  }
  return takeovers;
}

void EtcdStore::LogTakeovers() {
  std::vector<UnloggedTakeover> unlogged;
  {
    std::lock_guard lock(mu_);
    unlogged.swap(unlogged_);
  }
  for (const UnloggedTakeover& taken : unlogged) LogTakeover(taken);
}

void EtcdStore::LogTakeover(const UnloggedTakeover& taken) {
  const LeaseKey& lease = taken.lease;
  const uint64_t token = taken.token;
  const LeaseKeys& before = taken.before;
  const std::string prefix = keys_.TakeoverLog(lease.group, lease.name);
  const auto warn = [&](const Error& error) {
    spdlog::warn("{}: the takeover with token {} is not in the takeover log: {}",
                 client_->describe(), token, error.message());
  };
  // Why the lease was free, from the keys the heartbeat read before taking it: the token its
  // holder released is the last interval's when no later one was logged.
  TakeoverCause cause = TakeoverCause::kExpired;
  if (taken.reacquired) {
    cause = TakeoverCause::kReacquired;
  } else {
    pb::RangeRequest last;
    last.set_key(prefix);
    last.set_range_end(keys_.Takeover(lease.group, lease.name, token));
    last.set_sort_order(pb::RangeRequest::DESCEND);
    last.set_sort_target(pb::RangeRequest::KEY);
    last.set_limit(1);
    last.set_keys_only(true);
    auto read = client_->Range(last, "reading the takeover log");
    if (!read) return warn(read.error());
    const std::optional<uint64_t> last_token =
        read->kvs_size() == 1
            ? std::optional<uint64_t>(std::stoull(read->kvs(0).key().substr(prefix.size())))
            : std::nullopt;
    const std::optional<uint64_t> released =
        before.released
            ? std::optional<uint64_t>(std::strtoull(before.released->value().c_str(), nullptr, 10))
            : std::nullopt;
    if (released && (!last_token || *released >= *last_token)) {
      const bool asked =
          before.handover && static_cast<uint64_t>(before.handover->mod_revision()) > *released;
      cause = asked ? TakeoverCause::kHandover : TakeoverCause::kReleased;
    } else if (!released && !last_token) {
      cause = TakeoverCause::kFirst;
    }
  }
  const int64_t at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(taken.at.time_since_epoch()).count();
  pb::PutRequest put;
  put.set_key(keys_.Takeover(lease.group, lease.name, token));
  put.set_value(
      nlohmann::json{{"holder", taken.holder}, {"cause", ToString(cause)}, {"at_ms", at_ms}}
          .dump());
  if (auto r = client_->Put(put, "logging the takeover"); !r) return warn(r.error());

  // Keep the newest kTakeoversKept: find the oldest entry to keep and delete below it.
  pb::RangeRequest kept;
  kept.set_key(prefix);
  kept.set_range_end(PrefixEnd(prefix));
  kept.set_sort_order(pb::RangeRequest::DESCEND);
  kept.set_sort_target(pb::RangeRequest::KEY);
  kept.set_limit(kTakeoversKept + 1);
  kept.set_keys_only(true);
  auto read = client_->Range(kept, "trimming the takeover log");
  if (!read) return warn(read.error());
  if (read->kvs_size() <= kTakeoversKept) return;
  pb::TxnRequest trim;
  auto* remove = trim.add_success()->mutable_request_delete_range();
  remove->set_key(prefix);
  remove->set_range_end(read->kvs(kTakeoversKept - 1).key());
  if (auto r = client_->Txn(trim, "trimming the takeover log"); !r) return warn(r.error());
}

}  // namespace baton::etcd_detail
