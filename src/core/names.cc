#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "baton/elector.h"
#include "baton/store.h"

namespace baton {
namespace {

constexpr size_t kMaxNameBytes = 200;

std::string RandomHex(int digits) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < digits; ++i) out += kHex[rng() % 16];
  return out;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

const char* ToString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kOutcomeUnknown:
      return "outcome unknown";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kSchemaMismatch:
      return "schema mismatch";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

const char* ToString(MemberRole role) { return role == MemberRole::kActive ? "active" : "passive"; }

const char* ToString(HandoverOutcome outcome) {
  switch (outcome) {
    case HandoverOutcome::kRequested:
      return "requested";
    case HandoverOutcome::kNoHolder:
      return "no holder";
    case HandoverOutcome::kUnknownTarget:
      return "unknown target";
    case HandoverOutcome::kNoOtherMember:
      return "no other member";
    case HandoverOutcome::kNotLower:
      return "holder's priority not lower";
  }
  return "unknown";
}

const char* ToString(TakeoverCause cause) {
  switch (cause) {
    case TakeoverCause::kFirst:
      return "first";
    case TakeoverCause::kReleased:
      return "released";
    case TakeoverCause::kHandover:
      return "handover";
    case TakeoverCause::kExpired:
      return "expired";
    case TakeoverCause::kReacquired:
      return "reacquired";
  }
  return "unknown";
}

std::optional<TakeoverCause> TakeoverCauseFromName(const std::string& name) {
  for (TakeoverCause cause :
       {TakeoverCause::kFirst, TakeoverCause::kReleased, TakeoverCause::kHandover,
        TakeoverCause::kExpired, TakeoverCause::kReacquired}) {
    if (name == ToString(cause)) return cause;
  }
  return std::nullopt;
}

std::string DefaultInstanceId() {
  return HostName() + "-" + std::to_string(getpid()) + "-" + RandomHex(8);
}

std::string NewHolder(const std::string& id) { return id + "/" + RandomHex(16); }

std::string HolderId(const std::string& holder) { return holder.substr(0, holder.rfind('/')); }

std::string LocalHostName() { return HostName(); }

Result<void> CheckMemberIdentity(const std::string& group, const MemberInfo& self) {
  if (group.empty()) return Error(ErrorCode::kInvalidArgument, "the group name is empty");
  if (self.id.empty()) return Error(ErrorCode::kInvalidArgument, "the instance id is empty");
  if (self.holder.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "the holder identity of instance \"" + self.id + "\" is empty");
  }
  return Ok();
}

Result<void> ValidateName(const std::string& what, const std::string& value) {
  if (value.empty()) return Error(ErrorCode::kInvalidArgument, what + " must not be empty");
  if (value.size() > kMaxNameBytes) {
    return Error(ErrorCode::kInvalidArgument, what + " is " + std::to_string(value.size()) +
                                                  " bytes long; the limit is " +
                                                  std::to_string(kMaxNameBytes));
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "0x%02x", c);
      return Error(ErrorCode::kInvalidArgument,
                   what + " must not contain control characters (found " + code + ")");
    }
  }
  return Ok();
}

Result<void> CheckSchemaVersion(const std::string& describe, SchemaVersion found, int supported) {
  if (found.UsableBy(supported)) return Ok();
  const std::string needs = "version " + std::to_string(supported);
  if (found.version > supported) {
    return Error(ErrorCode::kSchemaMismatch,
                 describe + " has baton schema version " + std::to_string(found.version) +
                     " (usable from version " + std::to_string(found.usable_from) +
                     "), this baton supports up to " + needs + ": upgrade baton");
  }
  if (found.version == 0) {
    return Error(ErrorCode::kSchemaMismatch,
                 describe + " has no baton schema yet (this baton needs " + needs +
                     "): run `baton migrate` on this store first");
  }
  return Error(ErrorCode::kSchemaMismatch,
               describe + " has baton schema version " + std::to_string(found.version) +
                   ", this baton needs " + needs + ": run `baton migrate` on this store");
}

}  // namespace baton
