#include "tenant_command.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "../guardian/guardian.h"
#include "baton/timing.h"

namespace baton::cli {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// Closes a file descriptor when it goes out of scope.
class Fd final {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Reads `fd` to its end: everything (up to `limit` bytes; `overflow` set past it, the rest
// drained so the command never blocks on a full pipe).
void ReadAll(int fd, std::string& out, size_t limit, bool& overflow) {
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (out.size() + static_cast<size_t>(n) > limit) {
      overflow = true;
      continue;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

class CommandSource final : public TenantSource {
 public:
  CommandSource(std::vector<std::string> argv, std::vector<std::string> env, Duration timeout,
                Clock& clock)
      : argv_(std::move(argv)),
        env_(std::move(env)),
        timeout_(timeout),
        grace_(std::min<Duration>(timeout / 5, std::chrono::seconds(2))),
        clock_(clock) {}

  std::string Describe() const override { return "--tenants-command " + argv_[0]; }

  Result<std::vector<std::string>> List(std::stop_token stop) override {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return Failed(std::string("pipe: ") + std::strerror(errno));
    Fd out_read(out[0]), out_write(out[1]);
    if (pipe2(err, O_CLOEXEC) != 0) return Failed(std::string("pipe: ") + std::strerror(errno));
    Fd err_read(err[0]), err_write(err[1]);
    Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));

    guardian::SpawnOptions options;
    options.argv = argv_;
    options.env = env_;
    // The guardian kills the command and every descendant by then, even if baton hangs.
    options.deadline = clock_.Now() + timeout_;
    options.grace = grace_;
    options.stdin_fd = null_in.get();
    options.stdout_fd = out_write.get();
    options.stderr_fd = err_write.get();
    auto spawned = guardian::GuardedChild::Spawn(options);
    // Only the command (and its guardian) may hold the write ends, or the reads never end.
    null_in.Close();
    out_write.Close();
    err_write.Close();
    if (!spawned) return Failed("could not be started: " + spawned.error().message());
    std::shared_ptr<guardian::GuardedChild> child = std::move(spawned).value();

    std::thread err_reader([&] { LogErrors(err_read.get()); });
    std::string output;
    bool overflow = false;
    std::optional<guardian::ChildExit> exit;
    {
      std::stop_callback on_stop(stop, [&] { child->Terminate(grace_); });
      ReadAll(out_read.get(), output, kMaxTenantOutput, overflow);
      exit = child->Wait();
    }
    err_reader.join();
    if (!exit) return Failed("lost track of the command");
    switch (exit->kind) {
      case guardian::ExitKind::kExited:
        if (exit->code != 0) return Failed("exited with code " + std::to_string(exit->code));
        break;
      case guardian::ExitKind::kSignaled:
        return Failed("killed by signal " + std::to_string(exit->signal) + " (" +
                      strsignal(exit->signal) + ")");
      case guardian::ExitKind::kDeadline:
        return Failed("timed out after " + FormatDuration(timeout_) +
                      " (--tenants-timeout): stopped with SIGTERM, then SIGKILL");
      case guardian::ExitKind::kTerminated:
        return Failed("stopped: the scheduler is stopping");
      case guardian::ExitKind::kSpawnFailed:
        return Failed(std::string("could not be started: ") + std::strerror(exit->code));
    }
    if (overflow) {
      return Failed("printed more than " + std::to_string(kMaxTenantOutput) + " bytes");
    }
    return TenantLines(output, /*comments=*/false);
  }

 private:
  Error Failed(const std::string& why) const {
    return Error(ErrorCode::kUnavailable, "--tenants-command " + argv_[0] + ": " + why);
  }

  // The command's standard error, one log line per line.
  void LogErrors(int fd) const {
    std::string pending;
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        spdlog::warn("[tenants-command err] {}", pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) spdlog::warn("[tenants-command err] {}", pending);
  }

  const std::vector<std::string> argv_;
  const std::vector<std::string> env_;
  const Duration timeout_;
  const Duration grace_;
  Clock& clock_;
};

}  // namespace

Result<std::vector<std::string>> SplitCommandLine(const std::string& text,
                                                  const std::string& what) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (i + 1 < text.size()) word += text[++i];
    } else if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string::npos) return Invalid(what + " has an unterminated ' quote");
      word += text.substr(i + 1, close - i - 1);
      i = close;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() &&
            std::strchr("\"\\$`", text[j + 1]) != nullptr) {
          ++j;
        }
        word += text[j];
      }
      if (j >= text.size()) return Invalid(what + " has an unterminated \" quote");
      i = j;
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(word);
  if (words.empty()) return Invalid(what + " is empty: give a command, for example ./list-tenants");
  return words;
}

std::unique_ptr<TenantSource> TenantCommandSource(std::vector<std::string> argv,
                                                  std::vector<std::string> env, Duration timeout,
                                                  Clock& clock) {
  return std::make_unique<CommandSource>(std::move(argv), std::move(env), timeout, clock);
}

}  // namespace baton::cli
