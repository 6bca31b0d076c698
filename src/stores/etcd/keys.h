#pragma once

#include <string>

// Where the etcd store keeps what (SPEC 8). Under the store's prefix:
//   version                           the version key (JSON: version, usable_from)
//   g/<group>/m/<id>                  a member (JSON), on the instance's etcd lease
//   g/<group>/l/<lease>/holder        the lease: the holder identity, on the holder's etcd
//                                     lease; its create_revision is the fencing token
//   g/<group>/l/<lease>/handover      a handover request: the member id that alone may take
//                                     the lease next ("" for anyone), on a lease of its own
//   g/<group>/l/<lease>/released      the token of the last interval its holder released
//                                     (a key gone without it expired, or was revoked)
//   g/<group>/t/<lease>/<token>       the lease's takeover log (JSON: holder, cause, at_ms),
//                                     the token zero-padded to 20 digits so keys sort by it
// Names are escaped ('%' and '/' as %25 and %2F), so a group or id cannot reach another's keys.
namespace baton::etcd_detail {

class Keys final {
 public:
  explicit Keys(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string Version() const { return prefix_ + "version"; }
  std::string Member(const std::string& group, const std::string& id) const;
  std::string Members(const std::string& group) const;                             // A prefix.
  std::string LeaseDir(const std::string& group, const std::string& lease) const;  // A prefix.
  std::string Holder(const std::string& group, const std::string& lease) const;
  std::string Handover(const std::string& group, const std::string& lease) const;
  std::string Released(const std::string& group, const std::string& lease) const;
  std::string TakeoverLog(const std::string& group, const std::string& lease) const;  // A prefix.
  std::string Takeover(const std::string& group, const std::string& lease, uint64_t token) const;
  // The prefix of every group's keys, and the group a key under it belongs to ("" if none).
  std::string Groups() const { return prefix_ + "g/"; }
  std::string GroupOf(const std::string& key) const;

 private:
  std::string Group(const std::string& group) const;
  const std::string prefix_;
};

// The end of the range of every key that starts with `prefix`.
std::string PrefixEnd(const std::string& prefix);
std::string Escape(const std::string& name);
std::string Unescape(const std::string& name);

}  // namespace baton::etcd_detail
