#include "write_waker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>

namespace baton::sqlite_detail {

std::unique_ptr<WriteWaker> WriteWaker::Start(const std::string& path,
                                              std::function<void()> on_write) {
  const std::filesystem::path file(path);
  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return nullptr;
  // The directory, not the files: the log is deleted when the last connection closes and
  // made again by the next one.
  const std::string dir = file.has_parent_path() ? file.parent_path().string() : ".";
  const int stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0 ||
      inotify_add_watch(inotify_fd, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
    if (stop_fd >= 0) close(stop_fd);
    close(inotify_fd);
    return nullptr;
  }
  std::unique_ptr<WriteWaker> waker(
      new WriteWaker(inotify_fd, stop_fd, file.filename().string(), std::move(on_write)));
  waker->thread_ = std::thread([w = waker.get()] { w->Loop(); });
  return waker;
}

WriteWaker::WriteWaker(int inotify_fd, int stop_fd, std::string file,
                       std::function<void()> on_write)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      file_(std::move(file)),
      on_write_(std::move(on_write)) {}

WriteWaker::~WriteWaker() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(stop_fd_);
  close(inotify_fd_);
}

void WriteWaker::Loop() {
  const std::string wal = file_ + "-wal";
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    pollfd fds[2] = {{.fd = inotify_fd_, .events = POLLIN, .revents = 0},
                     {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
    if (poll(fds, 2, -1) < 0) continue;  // EINTR.
    if (fds[1].revents != 0) return;
    bool ours = false;
    for (;;) {
      const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        if ((event->mask & IN_Q_OVERFLOW) != 0 ||
            (event->len > 0 && (event->name == file_ || event->name == wal))) {
          ours = true;
        }
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    if (ours) on_write_();
  }
}

}  // namespace baton::sqlite_detail
