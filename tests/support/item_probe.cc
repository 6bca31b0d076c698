// baton-item-probe: the per-item command that the queue tests run under `baton work`.
//
// It records each item's work in a log, so a test can judge from facts what ran:
//   start   item=ID tenant=HEX attempt=A token=T pid=P mono_ns=N payload=HEX
//   overlap item=ID tenant=HEX ...   another probe of the same tenant holds the tenant's lock
//   done    item=ID tenant=HEX ...   the work ran to its end (then it exits with --exit-code)
//   term    item=ID tenant=HEX ...   SIGTERM arrived (it then exits 143, unless --ignore-term;
//                                    this line alone has no mono_ns)
// The tenant and the payload are hex, so any bytes survive the log. mono_ns is CLOCK_MONOTONIC.
//
//   --locks DIR        hold an exclusive flock on DIR/<tenant's hash> for the whole work: two
//                      items of one tenant that run at once cannot both hold it (the kernel
//                      decides, not a timestamp)
//   --log FILE         append the lines above (one write() each, O_APPEND)
//   --sleep D          work this long (ms, default 0)
//   --hang             work until killed
//   --hang-until A     work until killed while BATON_ATTEMPT <= A
//   --exit-code N      exit with N after the work (default 0)
//   --fail-until A     exit 1 while BATON_ATTEMPT <= A (then --exit-code)
//   --ignore-term      ignore SIGTERM

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace {

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

uint64_t Fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  return h;
}

long long MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

int log_fd = -1;
std::string identity;  // "item=... tenant=... attempt=... token=... pid=..."

void Log(const char* kind, const std::string& extra = "") {
  if (log_fd < 0) return;
  const std::string line =
      std::string(kind) + " " + identity + " mono_ns=" + std::to_string(MonoNs()) + extra + "\n";
  [[maybe_unused]] ssize_t n = write(log_fd, line.data(), line.size());
}

std::string term_line;  // Built before the handler is installed.

void OnTerm(int) {
  // Only async-signal-safe calls: write() of the line built before.
  if (log_fd >= 0) [[maybe_unused]]
    ssize_t n = write(log_fd, term_line.data(), term_line.size());
  _exit(143);
}

}  // namespace

int main(int argc, char** argv) {
  std::string locks;
  std::string log_path;
  long long sleep_ms = 0;
  bool hang = false;
  bool ignore_term = false;
  int exit_code = 0;
  int fail_until = 0;
  int hang_until = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "baton-item-probe: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--locks") {
      locks = next();
    } else if (arg == "--log") {
      log_path = next();
    } else if (arg == "--sleep") {
      sleep_ms = std::atoll(next().c_str());
    } else if (arg == "--hang") {
      hang = true;
    } else if (arg == "--exit-code") {
      exit_code = std::atoi(next().c_str());
    } else if (arg == "--hang-until") {
      hang_until = std::atoi(next().c_str());
    } else if (arg == "--fail-until") {
      fail_until = std::atoi(next().c_str());
    } else if (arg == "--ignore-term") {
      ignore_term = true;
    } else {
      std::fprintf(stderr, "baton-item-probe: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  const std::string tenant = Env("BATON_TENANT");
  const int attempt = std::atoi(Env("BATON_ATTEMPT").c_str());
  identity = "item=" + Env("BATON_ITEM") + " tenant=" + Hex(tenant) +
             " attempt=" + Env("BATON_ATTEMPT") + " token=" + Env("BATON_CLAIM_TOKEN") +
             " pid=" + std::to_string(getpid());
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  term_line = "term " + identity + "\n";
  std::signal(SIGTERM, ignore_term ? SIG_IGN : OnTerm);
  std::string payload;
  char buf[4096];
  for (ssize_t n; (n = read(0, buf, sizeof buf)) > 0;) payload.append(buf, static_cast<size_t>(n));
  Log("start", " payload=" + Hex(payload));
  if (!locks.empty()) {
    char name[32];
    std::snprintf(name, sizeof name, "/%016llx.lock",
                  static_cast<unsigned long long>(Fnv1a(tenant)));
    const int fd = open((locks + name).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
      Log("overlap");
      return 1;
    }
  }
  hang = hang || attempt <= hang_until;
  // Work in slices, so a SIGTERM ends it at once.
  for (long long slept = 0; hang || slept < sleep_ms; slept += 5) usleep(5000);
  Log("done");
  std::fprintf(stderr, "item probe: tenant %s attempt %d finished\n", tenant.c_str(), attempt);
  return attempt <= fail_until ? 1 : exit_code;
}
