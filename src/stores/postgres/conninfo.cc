#include "conninfo.h"

#include <libpq-fe.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <string_view>

#include "../../core/passwords.h"

namespace baton::postgres_detail {
namespace {

constexpr size_t kMaxIdentifier = 63;  // NAMEDATALEN - 1.

}  // namespace

std::string RedactPassword(const std::string& url) { return internal::RedactPasswords(url); }

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
