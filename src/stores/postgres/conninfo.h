#pragma once

#include <string>

#include "baton/result.h"

// What the PostgreSQL store does with the strings it is given before it connects: the URL
// (never printed as given) and the schema name (put into SQL, so checked and quoted).
namespace baton::postgres_detail {

// `url` with every password replaced by "***": the user:password@ of a URI, a password=
// URI query parameter, and a password= key of a key=value connection string.
std::string RedactPassword(const std::string& url);

// kInvalidArgument unless libpq can parse `url` as a URI or key=value connection string.
// The message names the redacted URL and never quotes the parts libpq complained about, since
// they may hold the password.
Result<void> CheckConnectionString(const std::string& url);

// kInvalidArgument unless `schema` is a plain identifier: ASCII letters, digits and '_', not
// starting with a digit, 1 to 63 bytes.
Result<void> CheckSchemaName(const std::string& schema);

// `name` (already checked by CheckSchemaName) as a quoted SQL identifier.
std::string QuoteIdentifier(const std::string& name);

}  // namespace baton::postgres_detail
