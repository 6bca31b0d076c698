#pragma once

// Small helpers shared by the store tests.

#include <gtest/gtest.h>

#include <string>

#include "baton/result.h"
#include "support/temp_dir.h"

namespace baton::conformance {

// EXPECT_TRUE(IsOk(result)) prints the error's code and message on failure.
template <typename T>
::testing::AssertionResult IsOk(const Result<T>& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << ToString(result.error().code()) << ": " << result.error().message();
}

using test_support::TempDir;  // One temporary-directory helper for every test.

}  // namespace baton::conformance
