#pragma once

#include <filesystem>
#include <string>

namespace baton::test_support {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it when the object
// goes away. Set BATON_TEST_KEEP_TMP=1 to keep it for a post-mortem. Not thread-safe.
class TempDir final {
 public:
  // `label` becomes part of the name, to tell whose directory a leftover is.
  explicit TempDir(const std::string& label = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path() / name, as a string.
  std::string File(const std::string& name) const;

 private:
  std::filesystem::path path_;
};

}  // namespace baton::test_support
