//===- TablesTest.cpp - code tables and thresholds ------------------------===//
//
// The expected bit patterns are copied from bnb-numerics §2.1-2.3 and §4.2;
// the dynamic map is also rebuilt here from bitsandbytes' recipe.
//
//===----------------------------------------------------------------------===//

#include "bnb/Quant/Tables.h"
#include "bnb/Support/Float16.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

const uint32_t kNF4Bits[16] = {0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0,
                               0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
                               0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a,
                               0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000};

const uint32_t kFP4Bits[8] = {0x00000000, 0x3baaaaab, 0x3f2aaaab, 0x3f800000,
                              0x3eaaaaab, 0x3f000000, 0x3e2aaaab, 0x3e800000};

/// The NF4 thresholds as nvcc (13.0) compiles the kernel's float literals,
/// read from the PTX immediates: each decimal literal rounded directly to the
/// nearest float. bnb-numerics §2.3 lists the exact f32 midpoints instead
/// (the literals rounded through double); they differ in the last bit at
/// indices 0, 8, 12 and 14.
const uint32_t kNF4ThresholdBits[15] = {
    0xbf591cd9, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec,
    0xbe0d38bc, 0xbd3a7871, 0x3d22faff, 0x3df64863, 0x3e5067e0,
    0x3e9582d4, 0x3ec753f9, 0x3f006d03, 0x3f248daf, 0x3f5c89d9};

/// The exact f32 midpoints of adjacent NF4 values (bnb-numerics §2.3).
const uint32_t kNF4MidpointBits[15] = {
    0xbf591cd8, 0xbf1c5270, 0xbeeb8480, 0xbeadea76, 0xbe703cec,
    0xbe0d38bc, 0xbd3a7871, 0x3d22faff, 0x3df64862, 0x3e5067e0,
    0x3e9582d4, 0x3ec753f9, 0x3f006d04, 0x3f248daf, 0x3f5c89da};

const uint32_t kFP4ThresholdBits[7] = {0x3b2aaab9, 0x3db00000, 0x3e555555,
                                       0x3e955555, 0x3ed55556, 0x3f155550,
                                       0x3f555555};

const uint32_t kDynamicMapBits[256] = {
    0xbf7e3333, 0xbf7a999a, 0xbf770000, 0xbf736666, 0xbf6fcccd, 0xbf6c3333,
    0xbf68999a, 0xbf650000, 0xbf616666, 0xbf5dcccd, 0xbf5a3333, 0xbf56999a,
    0xbf530000, 0xbf4f6666, 0xbf4bcccd, 0xbf483333, 0xbf44999a, 0xbf410000,
    0xbf3d6666, 0xbf39cccd, 0xbf363334, 0xbf32999a, 0xbf2f0000, 0xbf2b6666,
    0xbf27cccd, 0xbf243334, 0xbf20999a, 0xbf1d0000, 0xbf196666, 0xbf15cccd,
    0xbf123334, 0xbf0e999a, 0xbf0b0000, 0xbf076666, 0xbf03cccc, 0xbf003333,
    0xbef93332, 0xbef20000, 0xbeeacccc, 0xbee3999a, 0xbedc6666, 0xbed53333,
    0xbece0000, 0xbec6cccc, 0xbebf999a, 0xbeb86666, 0xbeb13333, 0xbeaa0000,
    0xbea2cccc, 0xbe9b999a, 0xbe946666, 0xbe8d3334, 0xbe860000, 0xbe7d9999,
    0xbe6f3333, 0xbe60cccd, 0xbe526666, 0xbe440000, 0xbe35999a, 0xbe273333,
    0xbe18cccd, 0xbe0a6666, 0xbdf80000, 0xbddb3334, 0xbdc9eb85, 0xbdc428f7,
    0xbdbe6667, 0xbdb8a3d7, 0xbdb2e148, 0xbdad1eb8, 0xbda75c2a, 0xbda1999a,
    0xbd9bd70a, 0xbd96147b, 0xbd9051eb, 0xbd8a8f5d, 0xbd84cccd, 0xbd7e147b,
    0xbd728f5d, 0xbd670a3d, 0xbd5b851f, 0xbd500000, 0xbd447ae1, 0xbd38f5c3,
    0xbd2d70a3, 0xbd21eb85, 0xbd166667, 0xbd0ae148, 0xbcfeb852, 0xbce7ae15,
    0xbcd0a3d7, 0xbcb9999a, 0xbca28f5d, 0xbc8b851f, 0xbc68f5c3, 0xbc3ae148,
    0xbc1f3b64, 0xbc160418, 0xbc0ccccd, 0xbc039581, 0xbbf4bc6a, 0xbbe24dd3,
    0xbbcfdf3b, 0xbbbd70a4, 0xbbab020d, 0xbb989374, 0xbb8624dd, 0xbb676c8a,
    0xbb428f5c, 0xbb1db22d, 0xbaf1a9fc, 0xbaa7ef9d, 0xba7765ff, 0xba59e83e,
    0xba3c6a80, 0xba1eecc1, 0xba016f01, 0xb9c7e283, 0xb98ce705, 0xb923d70b,
    0xb8ba1f4b, 0xb88aefb3, 0xb8378034, 0xb7b24206, 0xb70205ff, 0xb65a1a94,
    0xb513a3b7, 0x00000000, 0x3513a3b7, 0x365a1a94, 0x370205ff, 0x37b24206,
    0x38378034, 0x388aefb3, 0x38ba1f4b, 0x3923d70b, 0x398ce705, 0x39c7e283,
    0x3a016f01, 0x3a1eecc1, 0x3a3c6a80, 0x3a59e83e, 0x3a7765ff, 0x3aa7ef9d,
    0x3af1a9fc, 0x3b1db22d, 0x3b428f5c, 0x3b676c8a, 0x3b8624dd, 0x3b989374,
    0x3bab020d, 0x3bbd70a4, 0x3bcfdf3b, 0x3be24dd3, 0x3bf4bc6a, 0x3c039581,
    0x3c0ccccd, 0x3c160418, 0x3c1f3b64, 0x3c3ae148, 0x3c68f5c3, 0x3c8b851f,
    0x3ca28f5d, 0x3cb9999a, 0x3cd0a3d7, 0x3ce7ae15, 0x3cfeb852, 0x3d0ae148,
    0x3d166667, 0x3d21eb85, 0x3d2d70a3, 0x3d38f5c3, 0x3d447ae1, 0x3d500000,
    0x3d5b851f, 0x3d670a3d, 0x3d728f5d, 0x3d7e147b, 0x3d84cccd, 0x3d8a8f5d,
    0x3d9051eb, 0x3d96147b, 0x3d9bd70a, 0x3da1999a, 0x3da75c2a, 0x3dad1eb8,
    0x3db2e148, 0x3db8a3d7, 0x3dbe6667, 0x3dc428f7, 0x3dc9eb85, 0x3ddb3334,
    0x3df80000, 0x3e0a6666, 0x3e18cccd, 0x3e273333, 0x3e35999a, 0x3e440000,
    0x3e526666, 0x3e60cccd, 0x3e6f3333, 0x3e7d9999, 0x3e860000, 0x3e8d3334,
    0x3e946666, 0x3e9b999a, 0x3ea2cccc, 0x3eaa0000, 0x3eb13333, 0x3eb86666,
    0x3ebf999a, 0x3ec6cccc, 0x3ece0000, 0x3ed53333, 0x3edc6666, 0x3ee3999a,
    0x3eeacccc, 0x3ef20000, 0x3ef93332, 0x3f003333, 0x3f03cccc, 0x3f076666,
    0x3f0b0000, 0x3f0e999a, 0x3f123334, 0x3f15cccd, 0x3f196666, 0x3f1d0000,
    0x3f20999a, 0x3f243334, 0x3f27cccd, 0x3f2b6666, 0x3f2f0000, 0x3f32999a,
    0x3f363334, 0x3f39cccd, 0x3f3d6666, 0x3f410000, 0x3f44999a, 0x3f483333,
    0x3f4bcccd, 0x3f4f6666, 0x3f530000, 0x3f56999a, 0x3f5a3333, 0x3f5dcccd,
    0x3f616666, 0x3f650000, 0x3f68999a, 0x3f6c3333, 0x3f6fcccd, 0x3f736666,
    0x3f770000, 0x3f7a999a, 0x3f7e3333, 0x3f800000,
};

TEST(TablesTest, NF4TableBits) {
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(floatBits(kNF4Table[i]), kNF4Bits[i]) << i;
  EXPECT_EQ(codeTable(QuantType::NF4), kNF4Table);
}

TEST(TablesTest, FP4TableBitsInCodeOrder) {
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(floatBits(kFP4Table[i]), kFP4Bits[i]) << i;
    EXPECT_EQ(floatBits(kFP4Table[8 + i]), kFP4Bits[i] | 0x80000000u) << i;
  }
  // The normalization by 12 of the raw E2M1 magnitudes, in f32.
  const float raw[8] = {0, 0.0625f, 8, 12, 4, 6, 2, 3};
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(kFP4Table[i], raw[i] / 12.0f) << i;
  EXPECT_EQ(codeTable(QuantType::FP4), kFP4Table);
}

TEST(TablesTest, SerializedQuantMapHasPositiveZeroForFP4) {
  float map[16];
  serializedQuantMap(QuantType::FP4, map);
  EXPECT_EQ(floatBits(map[8]), 0u);
  for (int i = 0; i < 16; ++i) {
    if (i != 8) {
      EXPECT_EQ(floatBits(map[i]), floatBits(kFP4Table[i]));
    }
  }
  serializedQuantMap(QuantType::NF4, map);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(floatBits(map[i]), kNF4Bits[i]);
}

TEST(TablesTest, NF4ThresholdsAreTheKernelLiterals) {
  for (int k = 0; k < 15; ++k) {
    EXPECT_EQ(floatBits(kNF4Thresholds[k]), kNF4ThresholdBits[k]) << k;
    float midpoint = (kNF4Table[k] + kNF4Table[k + 1]) * 0.5f;
    EXPECT_EQ(floatBits(midpoint), kNF4MidpointBits[k]) << k;
    // Literal and midpoint are the same float or neighbours.
    int64_t distance = static_cast<int64_t>(floatBits(kNF4Thresholds[k])) -
                       static_cast<int64_t>(floatBits(midpoint));
    EXPECT_LE(std::abs(distance), 1) << k;
    EXPECT_EQ(distance != 0, k == 0 || k == 8 || k == 12 || k == 14) << k;
  }
}

TEST(TablesTest, FP4ThresholdLiterals) {
  for (int k = 0; k < 7; ++k)
    EXPECT_EQ(floatBits(kFP4Thresholds[k]), kFP4ThresholdBits[k]) << k;
  // Five of the seven literals are not the exact f32 midpoints of the sorted
  // magnitudes (bnb-numerics §9 item 3).
  const float sorted[8] = {kFP4Table[0], kFP4Table[1], kFP4Table[6],
                           kFP4Table[7], kFP4Table[4], kFP4Table[5],
                           kFP4Table[2], kFP4Table[3]};
  int differ = 0;
  for (int k = 0; k < 7; ++k)
    differ += kFP4Thresholds[k] != (sorted[k] + sorted[k + 1]) * 0.5f;
  EXPECT_EQ(differ, 5);
}

TEST(TablesTest, DynamicMapBits) {
  for (int i = 0; i < 256; ++i)
    EXPECT_EQ(floatBits(kDynamicMap[i]), kDynamicMapBits[i]) << i;
  EXPECT_EQ(kDynamicMap[127], 0.0f);
  EXPECT_EQ(kDynamicMap[255], 1.0f);
  EXPECT_TRUE(std::is_sorted(kDynamicMap, kDynamicMap + 256));
}

/// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
/// total_bits=8) in f32, with torch.linspace's FMA (bnb-numerics §4.2).
std::vector<float> buildDynamicMap() {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    int items = (1 << i) + 1;
    float start = 0.1f, end = 1.0f;
    float step = (end - start) / static_cast<float>(items - 1);
    std::vector<float> boundaries(items);
    for (int k = 0; k < items; ++k)
      boundaries[k] =
          k < items / 2
              ? std::fmaf(step, static_cast<float>(k), start)
              : std::fmaf(-step, static_cast<float>(items - 1 - k), end);
    float scale = static_cast<float>(std::pow(10.0, i - 6));
    for (int k = 0; k + 1 < items; ++k) {
      float mean = (boundaries[k] + boundaries[k + 1]) / 2.0f;
      data.push_back(scale * mean);
      data.push_back(-(scale * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  return data;
}

TEST(TablesTest, DynamicMapMatchesTheConstructionRecipe) {
  std::vector<float> built = buildDynamicMap();
  ASSERT_EQ(built.size(), 256u);
  for (int i = 0; i < 256; ++i)
    EXPECT_EQ(floatBits(built[i]), floatBits(kDynamicMap[i])) << i;
}

TEST(TablesTest, QuantTypeNames) {
  EXPECT_EQ(parseQuantType("nf4"), QuantType::NF4);
  EXPECT_EQ(parseQuantType("fp4"), QuantType::FP4);
  EXPECT_EQ(parseQuantType("NF4"), std::nullopt);
  EXPECT_EQ(parseQuantType("int4"), std::nullopt);
  EXPECT_EQ(quantTypeName(QuantType::FP4), "fp4");
}

} // namespace
