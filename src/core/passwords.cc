#include "passwords.h"

#include <cctype>

namespace baton::internal {
namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The length of "scheme://" at the start of `url`, or 0.
size_t SchemeLength(std::string_view url) {
  size_t at = 0;
  if (url.empty() || !std::isalpha(static_cast<unsigned char>(url[0]))) return 0;
  while (at < url.size() && (std::isalnum(static_cast<unsigned char>(url[at])) || url[at] == '+' ||
                             url[at] == '.' || url[at] == '-')) {
    ++at;
  }
  return url.substr(at).starts_with("://") ? at + 3 : 0;
}

// user:password@ in the authority, and password= among the query parameters. libpq ends the
// user part at the first '@' or '/', so neither can be part of a password written raw.
void UriSpans(std::string_view url, size_t start, std::vector<PasswordSpan>& spans) {
  const size_t end = url.find_first_of("@/?", start);
  if (end != std::string_view::npos && url[end] == '@') {
    const size_t colon = url.find(':', start);
    if (colon != std::string_view::npos && colon < end && colon + 1 < end) {
      spans.push_back({colon + 1, end - colon - 1});
    }
  }
  constexpr std::string_view kKey = "password=";
  for (size_t at = url.find('?'); at != std::string_view::npos && at < url.size();) {
    ++at;
    size_t next = url.find('&', at);
    if (next == std::string_view::npos) next = url.size();
    if (url.substr(at, next - at).starts_with(kKey) && next > at + kKey.size()) {
      spans.push_back({at + kKey.size(), next - at - kKey.size()});
    }
    at = next;
  }
}

// key = value pairs; a value is a bare word or a single-quoted string with \ escapes.
void KeyValueSpans(std::string_view text, std::vector<PasswordSpan>& spans) {
  size_t at = 0;
  while (at < text.size()) {
    if (IsSpace(text[at])) {
      ++at;
      continue;
    }
    const size_t key_start = at;
    while (at < text.size() && text[at] != '=' && !IsSpace(text[at])) ++at;
    const std::string_view key = text.substr(key_start, at - key_start);
    while (at < text.size() && IsSpace(text[at])) ++at;
    if (at >= text.size() || text[at] != '=') continue;
    ++at;
    while (at < text.size() && IsSpace(text[at])) ++at;
    const size_t value_start = at;
    if (at < text.size() && text[at] == '\'') {
      for (++at; at < text.size() && text[at] != '\''; ++at) {
        if (text[at] == '\\') ++at;
      }
      if (at < text.size()) ++at;  // The closing quote.
    } else {
      while (at < text.size() && !IsSpace(text[at])) ++at;
    }
    if (key == "password" && at > value_start) spans.push_back({value_start, at - value_start});
  }
}

}  // namespace

std::vector<PasswordSpan> PasswordSpans(std::string_view url) {
  std::vector<PasswordSpan> spans;
  if (const size_t scheme = SchemeLength(url); scheme > 0) {
    UriSpans(url, scheme, spans);
  } else {
    KeyValueSpans(url, spans);
  }
  return spans;
}

std::string RedactPasswords(std::string_view url) {
  std::string out(url);
  const std::vector<PasswordSpan> spans = PasswordSpans(url);
  // From the last, so the earlier offsets stay right.
  for (auto it = spans.rbegin(); it != spans.rend(); ++it)
    out.replace(it->offset, it->length, "***");
  return out;
}

}  // namespace baton::internal
