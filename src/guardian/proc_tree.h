#pragma once

// Finding and signalling every descendant of the guardian, including those that left the
// child's process group or session (`setsid`, double fork). The guardian is a child
// subreaper, so such orphans are reparented to it and stay in its ppid tree.

#include <sys/types.h>

#include <vector>

namespace baton::guardian::detail {

// The processes, not yet exited, whose parent chain in /proc reaches `root` (root
// excluded). A process created while the scan runs may be missed; callers loop.
std::vector<pid_t> LiveDescendants(pid_t root);

// Sends `sig` to every process LiveDescendants(root) finds, each only if it is still that
// descendant when signalled (a pidfd pins it, then its parent is checked again), so a pid
// reused by an unrelated process is never hit. Returns how many were signalled.
int SignalDescendants(pid_t root, int sig);

}  // namespace baton::guardian::detail
