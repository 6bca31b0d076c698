#pragma once

// Small helpers shared by the store tests.

#include <gtest/gtest.h>

#include <string>

#include "baton/result.h"

namespace baton::conformance {

// EXPECT_TRUE(IsOk(result)) prints the error's code and message on failure.
template <typename T>
::testing::AssertionResult IsOk(const Result<T>& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << ToString(result.error().code()) << ": " << result.error().message();
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
// One thread.
class TempDir final {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace baton::conformance
