#include "filesystem.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace baton::sqlite_detail {
namespace {

struct RemoteFilesystem {
  uint32_t magic;
  std::string_view name;
};

// statfs f_type values (linux/magic.h and the filesystems' own sources) of filesystems whose
// files may be shared with other hosts or served by a user-space process.
constexpr RemoteFilesystem kRemoteFilesystems[] = {
    {0x00006969, "nfs"},    {0x0000517B, "smb"},    {0xFF534D42, "cifs"},     {0xFE534D42, "smb2"},
    {0x65735546, "fuse"},   {0x01021997, "9p"},     {0x00C36400, "ceph"},     {0x5346414F, "afs"},
    {0x6B414653, "kafs"},   {0x73757245, "coda"},   {0x0000564C, "ncp"},      {0x01161970, "gfs2"},
    {0x7461636F, "ocfs2"},  {0x0BD00BD0, "lustre"}, {0x20030528, "orangefs"}, {0x47504653, "gpfs"},
    {0x786F4256, "vboxsf"}, {0x013111A8, "ibrix"},  {0x61636673, "acfs"},     {0xAAD7AAEA, "panfs"},
    {0x19830326, "fhgfs"},
};

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Why `path` cannot be used, in words, for an errno from statfs or open.
std::string Reason(int error, const std::string& path) {
  const std::string directory = DirectoryOf(path);
  switch (error) {
    case ENOTDIR:
      return "a part of " + directory + " is not a directory";
    case ENOENT:
      return "the directory " + directory + " does not exist";
    case EACCES:
    case EPERM:
      return "permission denied (" + directory + " or the file is not writable by this user)";
    case EISDIR:
      return "it is a directory";
    case EROFS:
      return "the filesystem is read-only";
    case ELOOP:
      return "too many symbolic links";
    case ENAMETOOLONG:
      return "the path is too long";
    default:
      return std::strerror(error);
  }
}

Error PathError(const std::string& path, const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument,
               "sqlite:" + path + " cannot be used as the database file: " + reason);
}

}  // namespace

std::optional<std::string_view> RemoteFilesystemName(uint64_t magic) {
  // f_type is a signed long; magic numbers are 32 bits, so compare the low word.
  const auto low = static_cast<uint32_t>(magic);
  for (const RemoteFilesystem& fs : kRemoteFilesystems) {
    if (fs.magic == low) return fs.name;
  }
  return std::nullopt;
}

Result<void> CheckFilesystemMagic(const std::string& describe, uint64_t magic) {
  std::optional<std::string_view> name = RemoteFilesystemName(magic);
  if (!name) return Ok();
  const std::string kind = *name == "fuse" ? "FUSE" : "network";
  return Error(ErrorCode::kInvalidArgument,
               describe + " is on a " + kind + " filesystem (" + std::string(*name) +
                   "); its locks and clocks are not one host's — use a local disk or PostgreSQL");
}

Result<void> PrepareSharedDirectory(const std::string& path) {
  const std::string dir = DirectoryOf(path);
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return Ok();
  if (::mkdir(dir.c_str(), 02770) != 0 && errno != EEXIST) {
    return PathError(path,
                     "its directory " + dir + " cannot be created (" + std::strerror(errno) + ")");
  }
  // mkdir's mode passes through the umask, and the setgid bit may be dropped.
  ::chmod(dir.c_str(), 02770);
  if (const struct group* g = ::getgrnam("baton"); g != nullptr) {
    if (::chown(dir.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
      return PathError(path, "its directory " + dir + " cannot be given to the group baton (" +
                                 std::strerror(errno) + ")");
    }
  }
  return Ok();
}

Result<void> PrepareDatabaseFile(const std::string& path, bool refuse_network_fs, unsigned mode) {
  if (path.empty()) return PathError(path, "the path is empty");
  if (path == ":memory:") {
    return PathError(path, "an in-memory database cannot be shared between processes");
  }
  const std::string describe = "sqlite:" + path;
  // Look at the directory before creating anything in it.
  struct statfs fs {};
  if (::statfs(DirectoryOf(path).c_str(), &fs) != 0) return PathError(path, Reason(errno, path));
  if (refuse_network_fs) {
    if (auto r = CheckFilesystemMagic(describe, static_cast<uint64_t>(fs.f_type)); !r) return r;
  }
  // 0600: the file names every instance and lease of the host's groups; other users have no
  // business reading it, let alone writing a lease. The shared default file is 0660, for the
  // members of its directory's group.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode));
  struct stat st {};
  int stat_rc = 0;
  int stat_errno = 0;
  int statfs_rc = 0;
  if (fd >= 0) {
    // The umask would narrow 0660; SQLite gives its -wal and -shm files the same mode.
    ::fchmod(fd, static_cast<mode_t>(mode));
    stat_rc = ::fstat(fd, &st);
    stat_errno = errno;
    // A symbolic link may lead to another filesystem than its directory's.
    statfs_rc = ::fstatfs(fd, &fs);
    // Just created: no SQLite connection of this process has it open, so this close cannot
    // drop one's locks.
    ::close(fd);
  } else if (errno == EEXIST) {
    // Never open and close a file that exists: close() drops every POSIX lock this process
    // holds on it, those of a SQLite connection already open on it included (a process with a
    // Store and a Queue on one file), and another process could then checkpoint and delete
    // the WAL under it. access(), stat() and statfs() take no descriptor.
    stat_rc = ::stat(path.c_str(), &st);
    stat_errno = errno;
    // What open(O_RDWR) would have said of a directory.
    if (stat_rc == 0 && S_ISDIR(st.st_mode)) return PathError(path, Reason(EISDIR, path));
    if (::access(path.c_str(), R_OK | W_OK) != 0) return PathError(path, Reason(errno, path));
    statfs_rc = ::statfs(path.c_str(), &fs);
  } else {
    return PathError(path, Reason(errno, path));
  }
  if (stat_rc != 0) return PathError(path, std::strerror(stat_errno));
  if (!S_ISREG(st.st_mode)) return PathError(path, "it is not a regular file");
  if (refuse_network_fs && statfs_rc == 0) {
    if (auto r = CheckFilesystemMagic(describe, static_cast<uint64_t>(fs.f_type)); !r) return r;
  }
  return Ok();
}

Result<std::string> ReadBootId() {
  constexpr const char* kPath = "/proc/sys/kernel/random/boot_id";
  std::ifstream in(kPath);
  std::string id;
  if (!in || !std::getline(in, id) || id.empty()) {
    return Error(ErrorCode::kUnavailable,
                 std::string("cannot read the kernel boot id from ") + kPath +
                     " (the SQLite store needs /proc to tell a reboot from a live lease)");
  }
  return id;
}

}  // namespace baton::sqlite_detail
