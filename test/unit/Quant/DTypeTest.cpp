//===- DTypeTest.cpp - dtype names and element access ---------------------===//

#include "bnb/Support/DType.h"
#include "bnb/Support/Float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace bnb;

namespace {

const DType kAll[] = {DType::F16, DType::BF16, DType::F32, DType::F64,
                      DType::I8,  DType::U8,   DType::I16, DType::I32,
                      DType::I64, DType::Bool};

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(dtypeSafetensorsName(DType::BF16), "BF16");
  EXPECT_EQ(dtypeSafetensorsName(DType::Bool), "BOOL");
  EXPECT_EQ(torchDtypeName(DType::F16), "float16");
  EXPECT_EQ(torchDtypeName(DType::U8), "uint8");
  const size_t sizes[] = {2, 2, 4, 8, 1, 1, 2, 4, 8, 1};
  for (size_t i = 0; i < std::size(kAll); ++i) {
    EXPECT_EQ(dtypeSize(kAll[i]), sizes[i]);
    EXPECT_EQ(parseSafetensorsDType(dtypeSafetensorsName(kAll[i])), kAll[i]);
    EXPECT_EQ(parseTorchDtype(torchDtypeName(kAll[i])), kAll[i]);
    EXPECT_EQ(parseTorchDtype("torch." + torchDtypeName(kAll[i]).str()),
              kAll[i]);
  }
  EXPECT_EQ(parseTorchDtype("half"), DType::F16);
  EXPECT_EQ(parseTorchDtype("torch.float"), DType::F32);
  EXPECT_EQ(parseTorchDtype("long"), DType::I64);
  EXPECT_EQ(parseTorchDtype("Float16"), std::nullopt);
  EXPECT_EQ(parseTorchDtype("float8_e4m3fn"), std::nullopt);
  EXPECT_EQ(parseSafetensorsDType("f16"), std::nullopt);
  EXPECT_EQ(parseSafetensorsDType("U16"), std::nullopt);
  EXPECT_TRUE(isFloatingDType(DType::BF16));
  EXPECT_FALSE(isFloatingDType(DType::I8));
}

TEST(DTypeTest, UnalignedLoadsAndStores) {
  std::vector<unsigned char> buffer(1 + 8 * 4);
  void *data = buffer.data() + 1;
  for (DType dt : kAll) {
    for (size_t i = 0; i < 4; ++i)
      storeFromFloat(data, dt, i, static_cast<float>(i) - 1.0f);
    for (size_t i = 0; i < 4; ++i) {
      float expected = static_cast<float>(i) - 1.0f;
      if (dt == DType::U8)
        expected = std::max(expected, 0.0f);
      if (dt == DType::Bool)
        expected = expected != 0.0f;
      EXPECT_EQ(loadAsFloat(data, dt, i), expected)
          << dtypeSafetensorsName(dt).str() << " " << i;
    }
  }
}

TEST(DTypeTest, FloatStoresRoundToNearestEven) {
  uint16_t h;
  storeFromFloat(&h, DType::F16, 0, 1.0f + std::ldexp(1.0f, -11));
  EXPECT_EQ(h, 0x3c00u); // tie -> even
  storeFromFloat(&h, DType::F16, 0, 1.0f + std::ldexp(3.0f, -11));
  EXPECT_EQ(h, 0x3c02u);
  storeFromFloat(&h, DType::BF16, 0, 1.0f + std::ldexp(1.0f, -8));
  EXPECT_EQ(h, 0x3f80u);
}

TEST(DTypeTest, IntegerStoresSaturateAndMapNaNToZero) {
  int8_t i8;
  storeFromFloat(&i8, DType::I8, 0, 300.0f);
  EXPECT_EQ(i8, 127);
  storeFromFloat(&i8, DType::I8, 0, -1e30f);
  EXPECT_EQ(i8, -128);
  storeFromFloat(&i8, DType::I8, 0, NAN);
  EXPECT_EQ(i8, 0);
  storeFromFloat(&i8, DType::I8, 0, 2.5f);
  EXPECT_EQ(i8, 2);
  storeFromFloat(&i8, DType::I8, 0, -3.5f);
  EXPECT_EQ(i8, -4);
  int64_t i64;
  storeFromFloat(&i64, DType::I64, 0, INFINITY);
  EXPECT_EQ(i64, INT64_MAX);
  storeFromFloat(&i64, DType::I64, 0, -INFINITY);
  EXPECT_EQ(i64, INT64_MIN);
  int32_t i32;
  storeFromFloat(&i32, DType::I32, 0, 3e9f);
  EXPECT_EQ(i32, INT32_MAX);
  uint8_t b;
  storeFromFloat(&b, DType::Bool, 0, NAN);
  EXPECT_EQ(b, 1);
}

TEST(DTypeTest, ConvertElements) {
  const float values[] = {1.0f, -0.5f, 65504.0f, 1e-8f};
  std::vector<uint16_t> half(4);
  convertElements(values, DType::F32, half.data(), DType::F16, 4);
  EXPECT_EQ(half[0], 0x3c00u);
  EXPECT_EQ(half[1], 0xb800u);
  EXPECT_EQ(half[2], 0x7bffu);
  EXPECT_EQ(half[3], floatToHalf(1e-8f));
  std::vector<uint16_t> bf(4);
  convertElements(half.data(), DType::F16, bf.data(), DType::BF16, 4);
  EXPECT_EQ(bf[0], 0x3f80u);
  EXPECT_EQ(bf[2], floatToBFloat16(65504.0f));
}

TEST(DTypeTest, CountNonFinite) {
  std::vector<float> values = {1.0f, -INFINITY, NAN, -2.0f, INFINITY, -NAN,
                               0.0f, 3.0e38f};
  std::vector<uint8_t> buffer(1 + values.size() * 8);
  for (DType dt : {DType::F16, DType::BF16, DType::F32, DType::F64}) {
    for (size_t i = 0; i < values.size(); ++i)
      storeFromFloat(buffer.data() + 1, dt, i, values[i]);
    NonFiniteCounts counts =
        countNonFinite(buffer.data() + 1, dt, values.size());
    EXPECT_EQ(counts.nans, 2u) << dtypeSafetensorsName(dt).str();
    // 3e38 overflows fp16 to infinity.
    EXPECT_EQ(counts.infinities, dt == DType::F16 ? 3u : 2u)
        << dtypeSafetensorsName(dt).str();
  }
  int8_t ints[3] = {-1, 0, 1};
  EXPECT_EQ(countNonFinite(ints, DType::I8, 3).nans, 0u);
}

} // namespace
