#include "probe_tail.h"

#include <fstream>
#include <sstream>

#include "support/process.h"

namespace baton::chaos {
namespace {

// The value of `key=` in a probe line, or "".
std::string Field(const std::string& line, const std::string& key) {
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    if (word.size() > key.size() && word.compare(0, key.size() + 1, key + "=") == 0) {
      return word.substr(key.size() + 1);
    }
  }
  return "";
}

}  // namespace

void ProbeTail::Update() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += chunk.size();
  partial_ += chunk;

  size_t begin = 0;
  for (size_t end; (end = partial_.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const std::string line = partial_.substr(begin, end - begin);
    const std::string kind = line.substr(0, line.find(' '));
    const std::string pid_text = Field(line, "pid");
    if (pid_text.empty()) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (kind == "start") {
      latest_ = LiveChild{.instance = Field(line, "instance"),
                          .token = std::stoll(Field(line, "token")),
                          .pid = pid};
    } else if ((kind == "stop" || kind == "exit") && latest_ && latest_->pid == pid) {
      latest_.reset();
    }
  }
  partial_.erase(0, begin);
}

std::optional<LiveChild> ProbeTail::Active() {
  Update();
  if (latest_ && !test_support::IsAlive(latest_->pid)) latest_.reset();
  return latest_;
}

}  // namespace baton::chaos
