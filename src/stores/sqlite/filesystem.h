#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "baton/result.h"

// What the SQLite store needs from the operating system before SQLite sees the file: a local
// filesystem, a file created with mode 0600, and the kernel's boot id. Free functions, safe
// from any thread.
namespace baton::sqlite_detail {

// The name of a network or FUSE filesystem ("nfs", "cifs", "fuse", ...) for a statfs f_type
// magic number, or nullopt for a local one. Pure.
std::optional<std::string_view> RemoteFilesystemName(uint64_t magic);

// kInvalidArgument naming `describe` ("sqlite:<path>") when `magic` is a network or FUSE
// filesystem: its byte-range locks and its clock are not one host's, so SQLite's locking and
// CLOCK_BOOTTIME expiry would not exclude a second holder. Pure.
Result<void> CheckFilesystemMagic(const std::string& describe, uint64_t magic);

// Checks the filesystem of `path`'s directory (unless `refuse_network_fs` is false), creates
// the file with `mode` (0600 unless it is the shared default file) if it does not exist, and
// checks that it is a regular file on a local filesystem. kInvalidArgument with the path and
// the reason on failure.
Result<void> PrepareDatabaseFile(const std::string& path, bool refuse_network_fs,
                                 unsigned mode = 0600);

// For the shared default file (kDefaultSqlitePath): creates its directory when missing, mode
// 2770 and owned by the `baton` group when that group exists, so its members share one file.
// kInvalidArgument naming the directory and the fix when it cannot.
Result<void> PrepareSharedDirectory(const std::string& path);

// The kernel's boot id (/proc/sys/kernel/random/boot_id): a new one after every reboot.
Result<std::string> ReadBootId();

}  // namespace baton::sqlite_detail
