#pragma once

// Where a store URL holds its passwords, for every place that must never show one: the
// program's messages, its own command line, `baton config check`, and the PostgreSQL store's
// errors. One parser, so that no two of them can disagree about what a password is.
//
// Not part of the public API: the program and the stores include it from src/.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace baton::internal {

struct PasswordSpan {
  size_t offset = 0;
  size_t length = 0;
};

// Every password in `url`, as libpq reads them: the user:password@ of a URI (any
// scheme://), each password= parameter of its query, or each password key of a key=value
// connection string, its value bare or 'quoted'. Empty passwords are not listed.
std::vector<PasswordSpan> PasswordSpans(std::string_view url);

// `url` with every password of PasswordSpans() replaced by "***".
std::string RedactPasswords(std::string_view url);

}  // namespace baton::internal
