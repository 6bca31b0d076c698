#pragma once

#include <string>
#include <utility>
#include <variant>

namespace baton {

// What a caller should do next after a failed call. Expected outcomes (a lease held by
// another instance, an empty queue) are never errors: they are values in the result.
enum class ErrorCode {
  kUnavailable,      // The store could not be reached or was busy; nothing changed. Retry later.
  kOutcomeUnknown,   // A write was sent but its fate is unknown. Retry; do not assume either way.
  kConflict,         // Another live instance owns what was asked for (for example the same --id).
  kSchemaMismatch,   // The store's schema cannot be used by this program. Run `baton migrate`
                     // or upgrade baton; retrying will not help.
  kInvalidArgument,  // The request or configuration is wrong. Fix it; retrying will not help.
  kInternal,         // A bug or a corrupt store. Report it.
};

const char* ToString(ErrorCode code);

// An error with a code that says what to do next and a message for people. The message
// names what was wrong and never contains a password.
class Error final {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when the same call may succeed later without any change by a person.
  bool retryable() const {
    return code_ == ErrorCode::kUnavailable || code_ == ErrorCode::kOutcomeUnknown;
  }

 private:
  ErrorCode code_;
  std::string message_;
};

// A value or an Error. Thread-compatible: like any value type, share it read-only or copy it.
template <typename T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> final {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  // REQUIRES: !ok().
  const Error& error() const { return error_; }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

inline Result<void> Ok() { return {}; }

}  // namespace baton
