#include "keys.h"

namespace baton::etcd_detail {

std::string Escape(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescape(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name.compare(i, 3, "%25") == 0) {
      out += '%';
      i += 2;
    } else if (name.compare(i, 3, "%2F") == 0) {
      out += '/';
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // Every key.
}

std::string Keys::Group(const std::string& group) const { return prefix_ + "g/" + Escape(group); }

std::string Keys::Member(const std::string& group, const std::string& id) const {
  return Members(group) + Escape(id);
}

std::string Keys::Members(const std::string& group) const { return Group(group) + "/m/"; }

std::string Keys::LeaseDir(const std::string& group, const std::string& lease) const {
  return Group(group) + "/l/" + Escape(lease) + "/";
}

std::string Keys::Holder(const std::string& group, const std::string& lease) const {
  return LeaseDir(group, lease) + "holder";
}

std::string Keys::Handover(const std::string& group, const std::string& lease) const {
  return LeaseDir(group, lease) + "handover";
}

std::string Keys::Released(const std::string& group, const std::string& lease) const {
  return LeaseDir(group, lease) + "released";
}

std::string Keys::TakeoverLog(const std::string& group, const std::string& lease) const {
  return Group(group) + "/t/" + Escape(lease) + "/";
}

std::string Keys::Takeover(const std::string& group, const std::string& lease,
                           uint64_t token) const {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(token));
  return TakeoverLog(group, lease) + digits;
}

std::string Keys::GroupOf(const std::string& key) const {
  const std::string prefix = Groups();
  if (key.compare(0, prefix.size(), prefix) != 0) return "";
  const size_t end = key.find('/', prefix.size());
  return Unescape(key.substr(prefix.size(), end == std::string::npos ? end : end - prefix.size()));
}

}  // namespace baton::etcd_detail
