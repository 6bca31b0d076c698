#include "conninfo.h"

#include <libpq-fe.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <string_view>

namespace baton::postgres_detail {
namespace {

constexpr size_t kMaxIdentifier = 63;  // NAMEDATALEN - 1.
constexpr const char* kMask = "***";

bool IsUri(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

// user:password@ in the authority, and password= among the query parameters. libpq ends the
// user part at the first '@' or '/', so neither can be part of a password written raw.
std::string RedactUri(const std::string& url) {
  std::string out = url;
  const size_t start = out.find("://") + 3;
  const size_t end = out.find_first_of("@/?", start);
  if (end != std::string::npos && out[end] == '@') {
    const size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < end && colon + 1 < end) {
      out.replace(colon + 1, end - colon - 1, kMask);
    }
  }
  const size_t query = out.find('?');
  if (query == std::string::npos) return out;
  size_t at = query + 1;
  while (at < out.size()) {
    size_t next = out.find('&', at);
    if (next == std::string::npos) next = out.size();
    std::string_view param(out.data() + at, next - at);
    if (param.starts_with("password=")) {
      const size_t value = at + std::strlen("password=");
      out.replace(value, next - value, kMask);
      next = value + std::strlen(kMask);
    }
    at = next + 1;
  }
  return out;
}

// key = value pairs; a value is a bare word or a single-quoted string with \ escapes.
std::string RedactKeyValue(const std::string& text) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[at]))) {
      out += text[at++];
      continue;
    }
    const size_t key_start = at;
    while (at < text.size() && text[at] != '=' &&
           !std::isspace(static_cast<unsigned char>(text[at]))) {
      ++at;
    }
    const std::string key = text.substr(key_start, at - key_start);
    out += key;
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at])))
      out += text[at++];
    if (at >= text.size() || text[at] != '=') continue;
    out += text[at++];
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at])))
      out += text[at++];
    const size_t value_start = at;
    if (at < text.size() && text[at] == '\'') {
      for (++at; at < text.size() && text[at] != '\''; ++at) {
        if (text[at] == '\\') ++at;
      }
      if (at < text.size()) ++at;  // The closing quote.
    } else {
      while (at < text.size() && !std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    }
    out += key == "password" ? std::string(kMask) : text.substr(value_start, at - value_start);
  }
  return out;
}

}  // namespace

std::string RedactPassword(const std::string& url) {
  return IsUri(url) ? RedactUri(url) : RedactKeyValue(url);
}

Result<void> CheckConnectionString(const std::string& url) {
  if (url.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "the PostgreSQL store needs a URL, for example postgresql://user@host/db");
  }
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &message);
  std::unique_ptr<char, decltype(&PQfreemem)> owned_message(message, &PQfreemem);
  if (options != nullptr) {
    PQconninfoFree(options);
    return Ok();
  }
  // libpq quotes the offending part, which may be (part of) the password: keep its words,
  // drop what it quotes.
  std::string reason = message != nullptr ? message : "out of memory";
  std::string cleaned;
  bool quoted = false;
  for (char c : reason) {
    if (c == '"') {
      if (!quoted) cleaned += "\"...\"";
      quoted = !quoted;
    } else if (!quoted && c != '\n') {
      cleaned += c;
    }
  }
  return Error(ErrorCode::kInvalidArgument,
               RedactPassword(url) + " is not a valid PostgreSQL URL or connection string (" +
                   cleaned + "): use postgresql://[user@]host[:port]/database[?param=value]");
}

Result<void> CheckSchemaName(const std::string& schema) {
  bool ok = !schema.empty() && schema.size() <= kMaxIdentifier &&
            !std::isdigit(static_cast<unsigned char>(schema[0]));
  for (char c : schema) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_') &&
         static_cast<unsigned char>(c) < 0x80;
  }
  if (ok) return Ok();
  return Error(ErrorCode::kInvalidArgument,
               "schema name \"" + schema +
                   "\" is not a plain identifier: use 1 to 63 ASCII letters, digits and '_', "
                   "not starting with a digit (for example baton)");
}

std::string QuoteIdentifier(const std::string& name) { return "\"" + name + "\""; }

}  // namespace baton::postgres_detail
