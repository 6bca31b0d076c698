#include "support/wait.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace baton::test_support {

bool WaitFor(const std::function<bool()>& condition, milliseconds timeout, milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

bool HoldsFor(const std::function<bool()>& condition, milliseconds duration, milliseconds poll) {
  const auto end = std::chrono::steady_clock::now() + duration;
  do {
    if (!condition()) return false;
    std::this_thread::sleep_for(poll);
  } while (std::chrono::steady_clock::now() < end);
  return condition();
}

int64_t MonoNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::trunc);
  file << text;
  if (!file.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace baton::test_support
