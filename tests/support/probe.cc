// baton-probe: the child that the process tests and the demo run under `baton run`.
//
// It records its life in a log so a test can judge what happened from facts rather than
// from timing alone:
//   start   token=N instance=ID pid=P mono_ns=T   when it starts
//   overlap token=N instance=ID pid=P mono_ns=T   when another probe already holds the lock
//   alive   token=N instance=ID pid=P mono_ns=T   every --alive-every once the lock is held
//   stop    token=N instance=ID pid=P mono_ns=T   when SIGTERM ends it (exit 0)
//   exit    token=N instance=ID pid=P mono_ns=T   when it exits by itself (--exit-after)
// mono_ns is CLOCK_MONOTONIC, the clock of std::chrono::steady_clock in the tests.
//
//   --lock FILE         hold an exclusive flock on FILE for the whole life. Two probes that
//                       run at once cannot both hold it: the kernel, not a timestamp,
//                       decides that two were active together.
//   --log FILE          append the lines above (one write() each, O_APPEND).
//   --print-every D     print "[<instance>] token N, tick K" every D (default 1s).
//   --alive-every D     log an alive line every D (default: never). A SIGKILLed probe writes
//                       no end line; its last alive line says when it was still running, to
//                       within D.
//   --grandchild FILE   start a descendant in its own session that ignores SIGTERM and
//                       writes its pid to FILE: something only the guardian can clean up.
//   --ignore-term       ignore SIGTERM (only SIGKILL ends the probe).
//   --exit-after D      exit by itself D after starting, with the code of --exit-code.
//   --exit-code N       the code for --exit-after (default 0).
//   --env FILE          write the environment to FILE at start, one NAME=value a line
//                       (written whole under another name, then renamed).
//   --now               print CLOCK_MONOTONIC in nanoseconds and exit (for scripts).

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

extern char** environ;

namespace {

struct Options {
  std::string lock_path;
  std::string log_path;
  std::string grandchild_pidfile;
  std::string env_path;
  long long print_every_ns = 1'000'000'000;
  long long alive_every_ns = -1;  // -1: no alive lines.
  long long exit_after_ns = -1;   // -1: only SIGTERM ends the probe.
  int exit_code = 0;
  bool ignore_term = false;
};

long long MonoNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "baton-probe: %s\n", message.c_str());
  std::exit(2);
}

// "500ms", "1s", "1.5s". Only what the tests and the demo pass.
long long ParseDurationNs(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  const std::string unit = end;
  if (end == text.c_str() || value <= 0) Die("bad duration: " + text);
  if (unit == "ms") return static_cast<long long>(value * 1e6);
  if (unit == "s") return static_cast<long long>(value * 1e9);
  Die("duration needs a unit (ms or s): " + text);
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--lock") {
      options.lock_path = value();
    } else if (arg == "--log") {
      options.log_path = value();
    } else if (arg == "--print-every") {
      options.print_every_ns = ParseDurationNs(value());
    } else if (arg == "--alive-every") {
      options.alive_every_ns = ParseDurationNs(value());
    } else if (arg == "--grandchild") {
      options.grandchild_pidfile = value();
    } else if (arg == "--ignore-term") {
      options.ignore_term = true;
    } else if (arg == "--exit-after") {
      options.exit_after_ns = ParseDurationNs(value());
    } else if (arg == "--exit-code") {
      options.exit_code = std::atoi(value().c_str());
    } else if (arg == "--env") {
      options.env_path = value();
    } else if (arg == "--now") {
      std::printf("%lld\n", MonoNs());
      std::exit(0);
    } else {
      Die("unknown option " + arg);
    }
  }
  return options;
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

// One write() per line on an O_APPEND descriptor, so lines of probes that share the log
// never interleave.
class EventLog final {
 public:
  explicit EventLog(const std::string& path) {
    if (path.empty()) return;
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) Die("cannot open log " + path + ": " + std::strerror(errno));
  }
  void Write(const char* kind, const std::string& token, const std::string& instance) const {
    if (fd_ < 0) return;
    const std::string line = std::string(kind) + " token=" + token + " instance=" + instance +
                             " pid=" + std::to_string(getpid()) +
                             " mono_ns=" + std::to_string(MonoNs()) + "\n";
    if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      Die(std::string("cannot write log: ") + std::strerror(errno));
    }
  }

 private:
  int fd_ = -1;
};

// Writes `text` under a temporary name and renames it, so a reader never sees half of it.
bool WriteWhole(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return close(fd) == 0 && written && rename(tmp.c_str(), path.c_str()) == 0;
}

// Forks a process that leaves the probe's session (so killing the probe's process group
// would miss it) and ignores SIGTERM. Called before any file is opened, so it holds no copy
// of the lock: a flock lives as long as any descriptor of it, even across exec.
void StartGrandchild(const std::string& pidfile) {
  const pid_t pid = fork();
  if (pid < 0) Die(std::string("fork: ") + std::strerror(errno));
  if (pid > 0) return;

  setsid();
  signal(SIGTERM, SIG_IGN);
  const int null_fd = open("/dev/null", O_RDWR);
  dup2(null_fd, STDIN_FILENO);
  dup2(null_fd, STDOUT_FILENO);
  dup2(null_fd, STDERR_FILENO);
  if (null_fd > STDERR_FILENO) close(null_fd);
  if (!WriteWhole(pidfile, std::to_string(getpid()) + "\n")) _exit(3);
  execlp("sleep", "sleep", "1000", static_cast<char*>(nullptr));
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseArgs(argc, argv);
  const std::string token = EnvOr("BATON_TOKEN", "none");
  const std::string instance = EnvOr("BATON_INSTANCE", "none");

  if (!options.grandchild_pidfile.empty()) StartGrandchild(options.grandchild_pidfile);

  // SIGTERM is taken synchronously by sigtimedwait() below, never by a handler.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  if (options.ignore_term) {
    signal(SIGTERM, SIG_IGN);
  } else {
    sigprocmask(SIG_BLOCK, &term, nullptr);
  }

  // Before the start line: a test that has seen the start finds the whole file.
  if (!options.env_path.empty()) {
    std::string text;
    for (char** e = environ; *e != nullptr; ++e) text += std::string(*e) + "\n";
    if (!WriteWhole(options.env_path, text)) {
      Die("cannot write " + options.env_path + ": " + std::strerror(errno));
    }
  }

  const EventLog log(options.log_path);
  log.Write("start", token, instance);

  if (!options.lock_path.empty()) {
    const int fd = open(options.lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) Die("cannot open lock " + options.lock_path + ": " + std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) Die(std::string("flock: ") + std::strerror(errno));
      // Another probe is alive: two instances are active at once.
      log.Write("overlap", token, instance);
      if (flock(fd, LOCK_EX) != 0) Die(std::string("flock: ") + std::strerror(errno));
    }
    // The descriptor stays open (and locked) until the process ends.
  }

  long long next_tick = MonoNs();
  const long long exit_at =
      options.exit_after_ns < 0 ? LLONG_MAX : next_tick + options.exit_after_ns;
  // The first alive line comes at once: it is the first proof that the lock is held.
  long long next_alive = options.alive_every_ns < 0 ? LLONG_MAX : next_tick;
  for (long long tick = 0;; ++tick) {
    const std::string line =
        "[" + instance + "] token " + token + ", tick " + std::to_string(tick) + "\n";
    if (write(STDOUT_FILENO, line.data(), line.size()) < 0 && errno == EPIPE) return 1;

    next_tick += options.print_every_ns;
    for (;;) {
      const long long now = MonoNs();
      if (now >= exit_at) {
        log.Write("exit", token, instance);
        return options.exit_code;
      }
      if (now >= next_alive) {
        log.Write("alive", token, instance);
        next_alive += options.alive_every_ns;
        // Beats missed while the machine stalled are not made up in a burst of lines.
        if (next_alive <= now) next_alive = now + options.alive_every_ns;
      }
      if (now >= next_tick) break;
      const long long left = std::min({next_tick, next_alive, exit_at}) - now;
      const timespec timeout{left / 1'000'000'000, left % 1'000'000'000};
      if (options.ignore_term) {
        nanosleep(&timeout, nullptr);
      } else if (sigtimedwait(&term, nullptr, &timeout) == SIGTERM) {
        log.Write("stop", token, instance);
        return 0;
      }
    }
  }
}
