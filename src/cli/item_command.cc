#include "item_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "../guardian/guardian.h"

namespace baton::cli {
namespace {

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

// The payload as a memory file the child reads as its standard input: writing it never
// blocks, whatever its size and however slowly the child reads.
Result<int> PayloadFile(const std::string& payload) {
  const int fd = memfd_create("baton-payload", MFD_CLOEXEC);
  if (fd < 0) {
    return Error(ErrorCode::kUnavailable, std::string("memfd_create: ") + std::strerror(errno));
  }
  for (size_t done = 0; done < payload.size();) {
    const ssize_t n = ::write(fd, payload.data() + done, payload.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Error(ErrorCode::kUnavailable,
                   std::string("writing the payload: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

// Reads one of the child's output pipes to its end, logging each line with the item's
// tenant and id; keeps the last kMaxErrorBytes when `tail` is set.
void LogLines(int fd, const ClaimedItem& item, const char* stream, std::string* tail) {
  std::string pending;
  char buf[4096];
  const auto emit = [&](const std::string& line) {
    spdlog::info("[{} #{} {}] {}", item.tenant, item.id, stream, line);
  };
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    if (tail != nullptr) {
      tail->append(buf, static_cast<size_t>(n));
      if (tail->size() > 2 * kMaxErrorBytes) tail->erase(0, tail->size() - kMaxErrorBytes);
    }
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      emit(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  if (!pending.empty()) emit(pending);
  if (tail != nullptr && tail->size() > kMaxErrorBytes) {
    tail->erase(0, tail->size() - kMaxErrorBytes);
  }
}

guardian::SpawnOptions GuardianOptions(const std::vector<std::string>& argv) {
  guardian::SpawnOptions options;
  options.argv = argv;
  return options;
}

std::string WithTail(std::string what, const std::string& tail) {
  if (tail.empty()) return what;
  return what + ": " + tail;
}

}  // namespace

ItemCommand::ItemCommand(std::vector<std::string> argv, std::vector<std::string> base_env,
                         Duration grace, Clock& clock)
    : argv_(std::move(argv)),
      base_env_(std::move(base_env)),
      grace_(grace),
      clock_(clock),
      guardians_(std::make_unique<guardian::GuardianPool>(GuardianOptions(argv_))) {}

WorkResult ItemCommand::Run(ItemContext& context) const {
  const ClaimedItem& item = context.item();
  Result<int> payload = PayloadFile(item.payload);
  if (!payload) return WorkResult::Retry(payload.error().message());
  Fd stdin_fd(*payload);
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return WorkResult::Retry(std::strerror(errno));
  Fd out_read(out[0]), out_write(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return WorkResult::Retry(std::strerror(errno));
  Fd err_read(err[0]), err_write(err[1]);

  std::vector<std::string> env = base_env_;
  // The tenant is data: it reaches the command in its environment, never in a shell string.
  env.push_back("BATON_QUEUE=" + context.queue().queue);
  env.push_back("BATON_TENANT=" + item.tenant);
  env.push_back("BATON_ITEM=" + std::to_string(item.id));
  env.push_back("BATON_ATTEMPT=" + std::to_string(item.attempt));
  env.push_back("BATON_CLAIM_TOKEN=" + std::to_string(item.claim_token));
  auto started = guardians_->Start(std::move(env), context.deadline(), grace_,
                                   {stdin_fd.get(), out_write.get(), err_write.get()});
  // Only the child may hold the write ends, or the reads never end.
  stdin_fd.Close();
  out_write.Close();
  err_write.Close();
  if (!started)
    return WorkResult::Retry("the command could not be started: " + started.error().message());
  std::shared_ptr<guardian::GuardedChild> child = std::move(started).value();

  std::string err_tail;
  std::thread out_reader([&] { LogLines(out_read.get(), item, "out", nullptr); });
  std::thread err_reader([&] { LogLines(err_read.get(), item, "err", &err_tail); });
  // Extensions move the guardian's deadline; a lost claim moves it to now (SIGKILL at once).
  context.OnDeadlineChange([child](TimePoint deadline) { child->SetDeadline(deadline); });
  std::optional<guardian::ChildExit> exit;
  {
    std::stop_callback on_stop(context.stop_token(), [&] {
      if (context.stop_reason() == StopReason::kClaimLost) {
        child->SetDeadline(clock_.Now());
      } else {
        child->Terminate(grace_);
      }
    });
    exit = child->Wait();
  }
  context.OnDeadlineChange(nullptr);
  out_reader.join();
  err_reader.join();
  guardians_->Give(std::move(child));
  if (!exit) return WorkResult::Retry("lost track of the command");
  switch (exit->kind) {
    case guardian::ExitKind::kExited:
      if (exit->code == 0) return WorkResult::Done();
      if (exit->code == 65) {
        return WorkResult::Dead(
            WithTail("exited with code 65 (EX_DATAERR: a poison item)", err_tail), 65);
      }
      return WorkResult::Retry(WithTail("exited with code " + std::to_string(exit->code), err_tail),
                               exit->code);
    case guardian::ExitKind::kSignaled:
      return WorkResult::Retry(WithTail(
          "killed by signal " + std::to_string(exit->signal) + " (" + strsignal(exit->signal) + ")",
          err_tail));
    case guardian::ExitKind::kDeadline:
      return WorkResult::Retry(WithTail("stopped at the claim's deadline", err_tail));
    case guardian::ExitKind::kTerminated:
      return WorkResult::Retry(
          WithTail(std::string("stopped: ") + ToString(context.stop_reason()), err_tail));
    case guardian::ExitKind::kSpawnFailed:
      return WorkResult::Retry(std::string("the command could not be started: ") +
                               std::strerror(exit->code));
  }
  return WorkResult::Retry("ended in an unknown way");
}

}  // namespace baton::cli
