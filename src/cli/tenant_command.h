#pragma once

#include <memory>
#include <string>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"
#include "baton/scheduler.h"

namespace baton::cli {

// `--tenants-command CMD` as words, the way a shell would split it but without running one:
// blanks separate words; '…' keeps everything literally; "…" keeps everything, a backslash
// there escaping only " \ $ and `; a backslash outside quotes keeps the next character. Nothing is
// expanded
// ($, *, ~ stay as they are): for a pipeline, write sh -c '…' yourself. kInvalidArgument for an
// unterminated quote or no word at all.
Result<std::vector<std::string>> SplitCommandLine(const std::string& text, const std::string& what);

// The source of `--tenants-command`: runs `argv` (no shell) each round under a guardian whose
// deadline is `timeout` after the start, with `env` (baton's own minus BATON_*) and standard
// input from /dev/null; its standard output, one id a line (blank lines skipped), is the
// round's list; its standard error is logged line by line. A non-zero exit, a signal, a
// time-out (SIGTERM, then SIGKILL to the command and every descendant) or more than
// kMaxTenantOutput bytes of output is an error that skips the round. A stop request ends
// the command the same way.
//
// Thread-compatible: List() from the scheduler's thread.
inline constexpr size_t kMaxTenantOutput = 64 * 1024 * 1024;
std::unique_ptr<TenantSource> TenantCommandSource(std::vector<std::string> argv,
                                                  std::vector<std::string> env, Duration timeout,
                                                  Clock& clock);

}  // namespace baton::cli
