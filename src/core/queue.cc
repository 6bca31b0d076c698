#include "baton/queue.h"

#include "baton/elector.h"

namespace baton {
namespace {

// Length of the UTF-8 sequence that starts `s[at]`, or 0 if none valid starts there.
size_t Utf8Length(std::string_view s, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = byte(at);
  size_t n = 0;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (at + n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(at + i) & 0xc0) != 0x80) return 0;
  }
  // Overlong forms, surrogates and code points past U+10FFFF.
  if (n == 3 && c == 0xe0 && byte(at + 1) < 0xa0) return 0;
  if (n == 3 && c == 0xed && byte(at + 1) >= 0xa0) return 0;
  if (n == 4 && c == 0xf0 && byte(at + 1) < 0x90) return 0;
  if (n == 4 && c == 0xf4 && byte(at + 1) >= 0x90) return 0;
  return n;
}

bool ValidUtf8(std::string_view s) {
  for (size_t at = 0; at < s.size();) {
    const size_t n = Utf8Length(s, at);
    if (n == 0) return false;
    at += n;
  }
  return true;
}

}  // namespace

const char* ToString(ClaimOutcome outcome) {
  switch (outcome) {
    case ClaimOutcome::kOk:
      return "ok";
    case ClaimOutcome::kStale:
      return "stale";
    case ClaimOutcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

const char* ToString(ItemState state) {
  switch (state) {
    case ItemState::kPending:
      return "pending";
    case ItemState::kRunning:
      return "running";
    case ItemState::kCancelled:
      return "cancelled";
    case ItemState::kDead:
      return "dead";
  }
  return "unknown";
}

Result<void> ValidateTenant(std::string_view tenant, const std::string& what) {
  if (auto r = ValidateName(what, std::string(tenant)); !r) return r;
  if (!ValidUtf8(tenant)) {
    return Error(ErrorCode::kInvalidArgument, what + " is not valid UTF-8");
  }
  return Ok();
}

namespace queue_detail {

Result<void> CheckQueueKey(const QueueKey& queue) {
  if (auto r = ValidateName("the group", queue.group); !r) return r;
  if (auto r = ValidateName("the queue name", queue.queue); !r) return r;
  if (!ValidUtf8(queue.group) || !ValidUtf8(queue.queue)) {
    return Error(ErrorCode::kInvalidArgument, "the group and queue names must be valid UTF-8");
  }
  return Ok();
}

Result<void> CheckOffer(const OfferRequest& request) {
  if (auto r = CheckQueueKey(request.queue); !r) return r;
  for (size_t i = 0; i < request.items.size(); ++i) {
    const OfferItem& item = request.items[i];
    const std::string what =
        "the tenant of item " + std::to_string(i) + " (\"" + item.tenant.substr(0, 40) + "\")";
    if (auto r = ValidateTenant(item.tenant, what); !r) return r;
    if (item.payload.size() > kMaxPayloadBytes) {
      return Error(ErrorCode::kInvalidArgument,
                   "the payload of item " + std::to_string(i) + " (tenant \"" + item.tenant +
                       "\") is " + std::to_string(item.payload.size()) + " bytes; the limit is " +
                       std::to_string(kMaxPayloadBytes));
    }
    if (item.delay < Duration::zero() || (item.ttl && *item.ttl <= Duration::zero())) {
      return Error(ErrorCode::kInvalidArgument,
                   "item " + std::to_string(i) + " (tenant \"" + item.tenant +
                       "\"): the delay must not be negative and the time-to-live must be positive");
    }
  }
  if (request.fence && request.fence->lease.empty()) {
    return Error(ErrorCode::kInvalidArgument, "the offer's fence names no lease");
  }
  return Ok();
}

Result<void> CheckClaim(const ClaimRequest& request) {
  if (auto r = CheckQueueKey(request.queue); !r) return r;
  if (request.max_items < 1) {
    return Error(ErrorCode::kInvalidArgument, "a claim must ask for at least one item");
  }
  if (request.visibility <= Duration::zero()) {
    return Error(ErrorCode::kInvalidArgument, "the claim's visibility must be positive");
  }
  if (request.max_attempts < 1) {
    return Error(ErrorCode::kInvalidArgument, "max attempts must be at least 1");
  }
  return CheckAcknowledge(request.acknowledge);
}

Result<void> CheckAcknowledge(const std::vector<ClaimRef>& claims) {
  if (claims.size() > static_cast<size_t>(kMaxRowsPerTransaction)) {
    return Error(ErrorCode::kInvalidArgument, "at most " + std::to_string(kMaxRowsPerTransaction) +
                                                  " claims may be acknowledged in one call");
  }
  return Ok();
}

std::string ErrorTail(std::string_view error) {
  if (error.size() > kMaxErrorBytes) error = error.substr(error.size() - kMaxErrorBytes);
  std::string out;
  out.reserve(error.size());
  for (size_t at = 0; at < error.size();) {
    const size_t n = error[at] == '\0' ? 0 : Utf8Length(error, at);
    if (n == 0) {
      out += '?';
      ++at;
    } else {
      out.append(error.substr(at, n));
      at += n;
    }
  }
  return out;
}

}  // namespace queue_detail
}  // namespace baton
