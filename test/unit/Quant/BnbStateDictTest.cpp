//===- BnbStateDictTest.cpp - bitsandbytes' serialized layer format -------===//

#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Support/Float16.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace bnb;
using namespace bnb::quant;

namespace {

TEST(BnbStateDictTest, TV9QuantStateBlob) {
  std::string json =
      quantStateJson(QuantType::NF4, 64, DType::F16, {4096, 4096}, 4.0f);
  EXPECT_EQ(json,
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
            "\"float16\", \"shape\": [4096, 4096], \"nested_blocksize\": "
            "256, \"nested_dtype\": \"float32\", \"nested_offset\": 4.0}");
  EXPECT_EQ(json.size(), 155u);
  const uint8_t head[] = {0x7b, 0x22, 0x71, 0x75, 0x61, 0x6e, 0x74, 0x5f,
                          0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x20, 0x22,
                          0x6e, 0x66, 0x34, 0x22, 0x2c, 0x20, 0x22, 0x62};
  for (size_t i = 0; i < sizeof(head); ++i)
    EXPECT_EQ(static_cast<uint8_t>(json[i]), head[i]) << i;
  std::string plain = quantStateJson(QuantType::NF4, 64, DType::F16,
                                     {4096, 4096}, std::nullopt);
  EXPECT_EQ(plain, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                   "\"float16\", \"shape\": [4096, 4096]}");
  EXPECT_EQ(plain.size(), 81u);
  EXPECT_EQ(quantStateJson(QuantType::FP4, 128, DType::BF16, {}, std::nullopt),
            "{\"quant_type\": \"fp4\", \"blocksize\": 128, \"dtype\": "
            "\"bfloat16\", \"shape\": []}");
}

TEST(BnbStateDictTest, PythonFloatRepr) {
  // Expected strings are Python's repr(float(numpy.float32(v))).
  EXPECT_EQ(pythonFloatRepr(4.0), "4.0");
  EXPECT_EQ(pythonFloatRepr(0.1f), "0.10000000149011612");
  EXPECT_EQ(pythonFloatRepr(1e-5f), "9.999999747378752e-06");
  EXPECT_EQ(pythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(pythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(pythonFloatRepr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(pythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(pythonFloatRepr(0.00001), "1e-05");
  EXPECT_EQ(pythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(pythonFloatRepr(0.0), "0.0");
  EXPECT_EQ(pythonFloatRepr(1.5e-7f), "1.500000053056283e-07");
  EXPECT_EQ(pythonFloatRepr(NAN), "NaN");
  EXPECT_EQ(pythonFloatRepr(INFINITY), "Infinity");
  EXPECT_EQ(pythonFloatRepr(-INFINITY), "-Infinity");
  EXPECT_EQ(pythonFloatRepr(0.00123456789f), "0.0012345678405836225");
  EXPECT_EQ(pythonFloatRepr(2.5), "2.5");
  EXPECT_EQ(pythonFloatRepr(3.4028235e38f), "3.4028234663852886e+38");
  EXPECT_EQ(pythonFloatRepr(1e-45f), "1.401298464324817e-45");
  EXPECT_EQ(pythonFloatRepr(100.0), "100.0");
  EXPECT_EQ(pythonFloatRepr(1234.5), "1234.5");
  EXPECT_EQ(pythonFloatRepr(-0.0117f), "-0.011699999682605267");
}

TEST(BnbStateDictTest, ParseQuantStateRoundTrips) {
  for (float offset : {4.0f, 0.0123f, -1e-7f, NAN, INFINITY, -0.0f}) {
    std::string json =
        quantStateJson(QuantType::FP4, 256, DType::BF16, {3, 0, 5}, offset);
    llvm::Expected<QuantStateInfo> info = parseQuantStateJson(json);
    ASSERT_TRUE(static_cast<bool>(info)) << llvm::toString(info.takeError());
    EXPECT_EQ(info->quantType, QuantType::FP4);
    EXPECT_EQ(info->blocksize, 256);
    EXPECT_EQ(info->dtype, DType::BF16);
    EXPECT_EQ(info->shape, (llvm::SmallVector<int64_t, 4>{3, 0, 5}));
    ASSERT_TRUE(info->nestedOffset.has_value());
    if (std::isnan(offset))
      EXPECT_TRUE(std::isnan(*info->nestedOffset));
    else
      EXPECT_EQ(floatBits(*info->nestedOffset), floatBits(offset));
  }
}

TEST(BnbStateDictTest, ParseQuantStateRejectsBadBlobs) {
  auto error = [](llvm::StringRef json) {
    llvm::Expected<QuantStateInfo> info = parseQuantStateJson(json);
    EXPECT_FALSE(static_cast<bool>(info)) << json.str();
    return info ? std::string() : llvm::toString(info.takeError());
  };
  EXPECT_EQ(error("{\"quant_type\": \"int4\", \"blocksize\": 64, \"dtype\": "
                  "\"float16\", \"shape\": [1]}"),
            "quant_state has an unknown quant_type 'int4'");
  EXPECT_EQ(error("{\"quant_type\": \"nf4\", \"blocksize\": 48, \"dtype\": "
                  "\"float16\", \"shape\": [1]}"),
            "quant_state 'blocksize' is not one of 32, 64, ..., 4096");
  EXPECT_EQ(error("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                  "\"int8\", \"shape\": [1]}"),
            "quant_state 'dtype' is not float16, bfloat16 or float32");
  EXPECT_EQ(error("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                  "\"float16\", \"shape\": [-1]}"),
            "quant_state 'shape' holds something other than a non-negative "
            "integer");
  EXPECT_EQ(error("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": "
                  "\"float16\", \"shape\": [1], \"nested_offset\": 1.0}"),
            "quant_state has some but not all of nested_offset, "
            "nested_blocksize and nested_dtype");
  EXPECT_EQ(error("[1]"), "quant_state is not a JSON object");
  EXPECT_NE(error("{\"quant_type\": "), "");
}

TEST(BnbStateDictTest, TV9Layout) {
  llvm::Expected<std::vector<SafetensorsTensorDecl>> decls =
      linear4bitDecls("layer.", QuantType::NF4, 64, DType::F16, {4096, 4096},
                      DType::U8, true, 4.0f);
  ASSERT_TRUE(static_cast<bool>(decls));
  struct Expect {
    const char *key;
    DType dtype;
    std::vector<int64_t> shape;
  } expected[] = {
      {"layer.weight", DType::U8, {8388608, 1}},
      {"layer.weight.absmax", DType::U8, {262144}},
      {"layer.weight.quant_map", DType::F32, {16}},
      {"layer.weight.nested_absmax", DType::F32, {1024}},
      {"layer.weight.nested_quant_map", DType::F32, {256}},
      {"layer.weight.quant_state.bitsandbytes__nf4", DType::U8, {155}},
  };
  ASSERT_EQ(decls->size(), std::size(expected));
  for (size_t i = 0; i < decls->size(); ++i) {
    EXPECT_EQ((*decls)[i].name, expected[i].key);
    EXPECT_EQ((*decls)[i].dtype, expected[i].dtype);
    EXPECT_EQ(std::vector<int64_t>((*decls)[i].shape.begin(),
                                   (*decls)[i].shape.end()),
              expected[i].shape);
  }
  // Without double quant: fp32 absmax and no nested tensors.
  decls = linear4bitDecls("", QuantType::FP4, 64, DType::BF16, {4096, 4096},
                          DType::U8, false, std::nullopt);
  ASSERT_TRUE(static_cast<bool>(decls));
  ASSERT_EQ(decls->size(), 4u);
  EXPECT_EQ((*decls)[1].dtype, DType::F32);
  EXPECT_EQ((*decls)[3].name, "weight.quant_state.bitsandbytes__fp4");
  // quant_storage reinterprets the bytes: ((n+1) // (2 * itemsize), 1).
  decls = linear4bitDecls("", QuantType::NF4, 64, DType::F16, {11008, 4096},
                          DType::F32, false, std::nullopt);
  ASSERT_TRUE(static_cast<bool>(decls));
  EXPECT_EQ((*decls)[0].dtype, DType::F32);
  EXPECT_EQ((*decls)[0].shape, (llvm::SmallVector<int64_t, 4>{5636096, 1}));
  decls = linear4bitDecls("", QuantType::NF4, 64, DType::F16, {2, 3},
                          DType::F32, false, std::nullopt);
  ASSERT_FALSE(static_cast<bool>(decls));
  EXPECT_EQ(llvm::toString(decls.takeError()),
            "'weight': 3 packed bytes are not a multiple of the 4-byte quant "
            "storage type float32");
}

/// A unique scratch directory removed at the end of the test.
class ScratchDir {
public:
  ScratchDir() {
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("bnb-statedict", path));
  }
  ~ScratchDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
  llvm::SmallString<128> path;
};

void writeTensors(const std::string &path,
                  const std::vector<StateTensor> &tensors) {
  std::vector<SafetensorsTensorDecl> decls;
  for (const StateTensor &t : tensors)
    decls.push_back({t.key, t.dtype, t.shape});
  auto writer = SafetensorsWriter::create(path, decls, {{"format", "pt"}});
  ASSERT_TRUE(static_cast<bool>(writer)) << llvm::toString(writer.takeError());
  for (const StateTensor &t : tensors)
    ASSERT_FALSE(static_cast<bool>((*writer)->write(t.key, t.bytes)));
  ASSERT_FALSE(static_cast<bool>((*writer)->commit()));
}

std::vector<uint16_t> randomWeight(size_t n) {
  std::mt19937 rng(17);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<uint16_t> w(n);
  for (uint16_t &h : w)
    h = floatToHalf(dist(rng));
  return w;
}

TEST(BnbStateDictTest, Linear4bitRoundTripsThroughSafetensors) {
  ScratchDir dir;
  std::vector<uint16_t> w = randomWeight(96 * 130);
  for (bool nestedQuant : {false, true})
    for (QuantType qt : {QuantType::NF4, QuantType::FP4}) {
      Quantized4bit q = quantizeLinear4bit(w.data(), DType::F16, {96, 130}, qt,
                                           64, nestedQuant, DType::U8);
      llvm::Expected<std::vector<StateTensor>> tensors =
          linear4bitTensors("m.proj.", q);
      ASSERT_TRUE(static_cast<bool>(tensors));
      // quant_map bytes: FP4's index 8 is serialized as +0.0.
      const StateTensor &quantMap = (*tensors)[2];
      EXPECT_EQ(quantMap.key, "m.proj.weight.quant_map");
      float map[16];
      std::memcpy(map, quantMap.bytes.data(), 64);
      EXPECT_EQ(floatBits(map[8]), qt == QuantType::FP4 ? 0u : 0x3da2faffu);
      std::string path = dir.file("l4.safetensors");
      writeTensors(path, *tensors);
      llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(path);
      ASSERT_TRUE(static_cast<bool>(file)) << llvm::toString(file.takeError());
      llvm::Expected<Loaded4bit> loaded = loadLinear4bit(*file, "m.proj.");
      ASSERT_TRUE(static_cast<bool>(loaded))
          << llvm::toString(loaded.takeError());
      EXPECT_EQ(loaded->packed, q.packed);
      EXPECT_EQ(loaded->state.quantType, qt);
      EXPECT_EQ(loaded->state.shape, (llvm::SmallVector<int64_t, 4>{96, 130}));
      EXPECT_EQ(loaded->nested.has_value(), nestedQuant);
      if (nestedQuant) {
        std::vector<float> rebuilt(q.absmax.size());
        reconstructAbsmax(q.nested->codes.data(), q.nested->nestedAbsmax.data(),
                          q.nested->offset, rebuilt.size(), rebuilt.data());
        EXPECT_EQ(loaded->absmax, rebuilt);
        EXPECT_EQ(loaded->state.nestedOffset, q.nested->offset);
      } else {
        EXPECT_EQ(loaded->absmax, q.absmax);
      }
      EXPECT_FALSE(static_cast<bool>(loadLinear4bit(*file, "other.")));
    }
}

TEST(BnbStateDictTest, Linear4bitLoadErrors) {
  ScratchDir dir;
  std::vector<uint16_t> w = randomWeight(64 * 64);
  Quantized4bit q = quantizeLinear4bit(w.data(), DType::F16, {64, 64},
                                       QuantType::NF4, 64, true, DType::U8);
  std::vector<StateTensor> good = *linear4bitTensors("", q);
  std::string path = dir.file("bad.safetensors");
  auto loadError = [&](std::vector<StateTensor> tensors) {
    writeTensors(path, tensors);
    llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(path);
    EXPECT_TRUE(static_cast<bool>(file));
    llvm::Expected<Loaded4bit> loaded = loadLinear4bit(*file, "");
    EXPECT_FALSE(static_cast<bool>(loaded));
    return loaded ? std::string() : llvm::toString(loaded.takeError());
  };
  std::vector<StateTensor> t = good;
  t.erase(t.begin() + 3); // nested_absmax
  EXPECT_EQ(loadError(t),
            "'" + path +
                "': tensor 'weight.quant_state.bitsandbytes__nf4' "
                "has a nested_offset but 'weight.nested_absmax' is "
                "missing");
  t = good;
  t[2].bytes[0] ^= 1; // quant_map entry 0
  EXPECT_EQ(loadError(t), "'" + path +
                              "': tensor 'weight.quant_map' is not "
                              "the known table: entry 0 is "
                              "-1.0000001192092896, expected -1.0");
  t = good;
  t[1].shape = {32};
  t[1].bytes.resize(32);
  EXPECT_EQ(loadError(t), "'" + path +
                              "': tensor 'weight.absmax' is U8 "
                              "[32], expected U8 [64]");
  t = good;
  t.pop_back();
  EXPECT_EQ(loadError(t), "'" + path +
                              "': tensor "
                              "'weight.quant_state.bitsandbytes__nf4' "
                              "(or __fp4) is missing");
  t = good;
  t.push_back(t.back());
  t.back().key = "weight.quant_state.bitsandbytes__fp4";
  EXPECT_EQ(loadError(t), "'" + path +
                              "': both "
                              "'weight.quant_state.bitsandbytes__nf4' "
                              "and '__fp4' are present");
  t = good;
  t[4].bytes[1020] ^= 1; // nested_quant_map entry 255
  EXPECT_NE(loadError(t).find("'weight.nested_quant_map' is not the known "
                              "table: entry 255"),
            std::string::npos);
  t = good;
  t.erase(t.begin());
  EXPECT_EQ(loadError(t), "'" + path + "': tensor 'weight' is missing");
}

TEST(BnbStateDictTest, Linear8bitRoundTripAndWeightFormat) {
  ScratchDir dir;
  std::vector<uint16_t> w = randomWeight(6 * 10);
  QuantizedInt8 q = quantizeLinear8bit(w.data(), DType::F16, 6, 10);
  std::vector<StateTensor> tensors = linear8bitTensors("fc.", q);
  ASSERT_EQ(tensors.size(), 3u);
  EXPECT_EQ(tensors[0].key, "fc.weight");
  EXPECT_EQ(tensors[0].dtype, DType::I8);
  EXPECT_EQ(tensors[1].key, "fc.SCB");
  EXPECT_EQ(tensors[1].shape, (llvm::SmallVector<int64_t, 4>{6}));
  EXPECT_EQ(tensors[2].key, "fc.weight_format");
  EXPECT_TRUE(tensors[2].shape.empty());
  EXPECT_EQ(tensors[2].bytes, std::vector<uint8_t>{0});
  std::string path = dir.file("l8.safetensors");
  writeTensors(path, tensors);
  llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(static_cast<bool>(file));
  llvm::Expected<QuantizedInt8> loaded = loadLinear8bit(*file, "fc.");
  ASSERT_TRUE(static_cast<bool>(loaded));
  EXPECT_EQ(loaded->cb, q.cb);
  EXPECT_EQ(loaded->scb, q.scb);

  tensors[2].bytes[0] = 3;
  writeTensors(path, tensors);
  file = SafetensorsFile::open(path);
  ASSERT_TRUE(static_cast<bool>(file));
  loaded = loadLinear8bit(*file, "fc.");
  ASSERT_FALSE(static_cast<bool>(loaded));
  EXPECT_EQ(llvm::toString(loaded.takeError()),
            "'" + path +
                "': tensor 'fc.weight_format' is 3 (col_ampere); "
                "only 0 (row) is supported");
}

} // namespace
