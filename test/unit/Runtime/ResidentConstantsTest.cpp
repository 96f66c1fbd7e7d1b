//===- ResidentConstantsTest.cpp - constants uploaded once per module -----===//

#include "FakeDriver.h"

#include <cstring>

using namespace bnb::test;

namespace {

class ResidentConstantsTest : public FakeDriverTest {
protected:
  static uint64_t constants() {
    return bnbrt_memory_current(BNBRT_POOL_DEVICE, BNBRT_CATEGORY_CONSTANTS);
  }
};

// Two host tables, as two globals of a compiled module.
const float kRope[6] = {1, 2, 3, 4, 5, 6};
const int8_t kCode[16] = {-7, -6, -5, -4, -3, -2, -1, 0,
                          1,  2,  3,  4,  5,  6,  7, 8};

TEST_F(ResidentConstantsTest, FirstUseUploadsLaterUsesReuse) {
  void *first = bnbrtResidentConstant(kRope, sizeof(kRope));
  ASSERT_NE(first, nullptr) << error();
  EXPECT_NE(first, static_cast<const void *>(kRope));
  EXPECT_EQ(std::memcmp(first, kRope, sizeof(kRope)), 0);
  EXPECT_EQ(fake().allocCalls, 1);
  EXPECT_EQ(fake().memcpyHtoDCalls, 1);
  // The upload is complete before any kernel on the model's stream runs.
  EXPECT_EQ(fake().ctxSyncCalls, 1);

  // The next calls (the next decode steps) get the same copy, no transfer.
  for (int call = 0; call < 3; ++call)
    EXPECT_EQ(bnbrtResidentConstant(kRope, sizeof(kRope)), first);
  EXPECT_EQ(fake().allocCalls, 1);
  EXPECT_EQ(fake().memcpyHtoDCalls, 1);

  void *code = bnbrtResidentConstant(kCode, sizeof(kCode));
  ASSERT_NE(code, nullptr) << error();
  EXPECT_NE(code, first);
  EXPECT_EQ(fake().allocCalls, 2);
  EXPECT_EQ(constants(), sizeof(kRope) + sizeof(kCode));
  EXPECT_EQ(bnbrt_memory_current(BNBRT_POOL_DEVICE, BNBRT_CATEGORY_ACTIVATIONS),
            0u);
  bnbrtReleaseResidentConstant(kRope);
  bnbrtReleaseResidentConstant(kCode);
}

TEST_F(ResidentConstantsTest, ReleaseFreesAndAllowsAFreshUpload) {
  void *copy = bnbrtResidentConstant(kRope, sizeof(kRope));
  ASSERT_NE(copy, nullptr) << error();
  EXPECT_EQ(bnbrt_outstanding_allocations(), 1u);
  bnbrtReleaseResidentConstant(kRope);
  EXPECT_EQ(fake().freeCalls, 1);
  EXPECT_EQ(constants(), 0u);
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  EXPECT_TRUE(fake().liveBlocks.empty());
  // Releasing again, or what was never uploaded, does nothing.
  bnbrtReleaseResidentConstant(kRope);
  bnbrtReleaseResidentConstant(kCode);
  EXPECT_EQ(fake().freeCalls, 1);
  EXPECT_EQ(error(), "");
  // A module loaded again uploads again.
  ASSERT_NE(bnbrtResidentConstant(kRope, sizeof(kRope)), nullptr);
  EXPECT_EQ(fake().allocCalls, 2);
  EXPECT_EQ(fake().memcpyHtoDCalls, 2);
  bnbrtReleaseResidentConstant(kRope);
  EXPECT_EQ(bnbrt_memory_peak(BNBRT_POOL_DEVICE, BNBRT_CATEGORY_CONSTANTS),
            sizeof(kRope));
}

TEST_F(ResidentConstantsTest, ReportedInTheConstantsCategory) {
  EXPECT_STREQ(bnbrt_category_name(BNBRT_CATEGORY_CONSTANTS), "constants");
  ASSERT_NE(bnbrtResidentConstant(kCode, sizeof(kCode)), nullptr);
  char report[256];
  bnbrt_leak_report_string(report, sizeof(report));
  EXPECT_NE(std::strstr(report, "device constants: 1 block(s), 16 bytes"),
            nullptr)
      << report;
  bnbrtReleaseResidentConstant(kCode);
}

TEST_F(ResidentConstantsTest, ZeroBytesNeedNoCopy) {
  EXPECT_EQ(bnbrtResidentConstant(kRope, 0), nullptr);
  EXPECT_EQ(fake().allocCalls, 0);
  EXPECT_EQ(error(), "");
}

TEST_F(ResidentConstantsTest, AnotherSizeForTheSameAddressIsAnError) {
  ASSERT_NE(bnbrtResidentConstant(kRope, sizeof(kRope)), nullptr);
  EXPECT_EQ(bnbrtResidentConstant(kRope, 8), nullptr);
  EXPECT_NE(error().find("was uploaded with 24 bytes, now requested with 8"),
            std::string::npos)
      << error();
  bnbrt_clear_error();
  bnbrtReleaseResidentConstant(kRope);
}

TEST_F(ResidentConstantsTest, FailedUploadIsReportedAndNotKept) {
  fake().memcpyResult = 1; // CUDA_ERROR_INVALID_VALUE
  EXPECT_EQ(bnbrtResidentConstant(kRope, sizeof(kRope)), nullptr);
  EXPECT_NE(error().find("uploading a constant: cuMemcpyHtoD_v2(24 bytes) "
                         "failed"),
            std::string::npos)
      << error();
  // Nothing leaks and nothing stale is cached: the next try uploads.
  EXPECT_EQ(bnbrt_outstanding_allocations(), 0u);
  fake().memcpyResult = 0;
  bnbrt_clear_error();
  ASSERT_NE(bnbrtResidentConstant(kRope, sizeof(kRope)), nullptr) << error();
  EXPECT_EQ(fake().memcpyHtoDCalls, 2);
  bnbrtReleaseResidentConstant(kRope);
}

TEST_F(ResidentConstantsTest, FailedAllocationIsReported) {
  fake().failAllocAt = 1;
  EXPECT_EQ(bnbrtResidentConstant(kCode, sizeof(kCode)), nullptr);
  EXPECT_NE(error().find("category constants"), std::string::npos) << error();
  EXPECT_EQ(fake().memcpyHtoDCalls, 0);
}

TEST_F(ResidentConstantsTest, NothingWhileAnErrorIsRecorded) {
  bnbrt_free(reinterpret_cast<void *>(0x1234)); // records an error
  ASSERT_NE(error(), "");
  EXPECT_EQ(bnbrtResidentConstant(kCode, sizeof(kCode)), nullptr);
  EXPECT_EQ(fake().allocCalls, 0);
}

TEST_F(ResidentConstantsTest, ResetForgetsTheCopies) {
  ASSERT_NE(bnbrtResidentConstant(kCode, sizeof(kCode)), nullptr);
  // bnbrt_reset forgets the driver and the copy without freeing it.
  bnbrt_reset();
  EXPECT_EQ(constants(), 0u);
  int freesBefore = fake().freeCalls;
  bnbrtReleaseResidentConstant(kCode);
  EXPECT_EQ(fake().freeCalls, freesBefore);
  ASSERT_NE(bnbrtResidentConstant(kCode, sizeof(kCode)), nullptr);
  EXPECT_EQ(fake().memcpyHtoDCalls, 2);
  bnbrtReleaseResidentConstant(kCode);
}

} // namespace
