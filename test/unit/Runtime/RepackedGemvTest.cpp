//===- RepackedGemvTest.cpp - batch-1 GEMV on repacked 4-bit weights ------===//
//
// The 4-bit linears at one row of x use a repacked copy of a weight that was
// declared immutable (bnbrt_uk_weights_register): checked against lib/Quant's
// dequantization in double precision on every instruction set and thread
// count, and for when the copy is made, used and dropped.
//
//===----------------------------------------------------------------------===//

#include "UkernelTestSupport.h"

#include <memory>

using namespace bnb;
using namespace bnb::quant;
using namespace bnb::uktest;

namespace {

/// The repack counters (TestHooks.h).
struct RepackStats {
  uint64_t calls = 0, held = 0;
  static RepackStats now() {
    RepackStats s;
    bnbrt_ukernel_repack_stats(&s.calls, &s.held);
    return s;
  }
};

/// Registers a vector's bytes as immutable weights for the object's life.
class Registration {
public:
  template <typename T> explicit Registration(const std::vector<T> &v) {
    data_ = v.data();
    status_ = bnbrt_uk_weights_register(data_, v.size() * sizeof(T));
  }
  ~Registration() {
    if (status_ == 0)
      bnbrt_uk_weights_release(data_);
  }
  Registration(const Registration &) = delete;
  Registration &operator=(const Registration &) = delete;
  int status() const { return status_; }

private:
  const void *data_ = nullptr;
  int status_ = -1;
};

/// Every array the linear of `wq` reads, registered.
std::vector<std::unique_ptr<Registration>> registerAll(const Weights4bit &wq,
                                                       bool dq) {
  std::vector<std::unique_ptr<Registration>> r;
  r.push_back(std::make_unique<Registration>(wq.packed));
  if (dq) {
    r.push_back(std::make_unique<Registration>(wq.codes));
    r.push_back(std::make_unique<Registration>(wq.nested));
    r.push_back(std::make_unique<Registration>(wq.code8));
  } else {
    r.push_back(std::make_unique<Registration>(wq.absmax));
  }
  for (const auto &one : r)
    EXPECT_EQ(one->status(), 0);
  return r;
}

/// How many of the runs of acrossIsasAndThreads (three thread counts per
/// instruction set) take the repacked GEMV with compute dtype `compute`.
uint64_t expectedRepackedRuns(int compute) {
  uint64_t runs = 0;
  for (const std::string &isa : supportedIsas())
    if (isa == "amx" || isa == "avx512")
      runs += 3;
  if (compute == BNBRT_UK_BF16 && !__builtin_cpu_supports("avx512bf16"))
    return 0;
  return runs;
}

class RepackedGemvTest : public UkernelTest {};

// Groups of 16 rows with a tail of rows in the original layout (N = 37, 130),
// several column tiles over the threads (N = 130, 208), blocks of one row
// to 172 per row (K = 64 .. 11008), plain and double-quantized absmax,
// every compute dtype and both code books.
TEST_F(RepackedGemvTest, MatchesLibQuant) {
  const Shape4 shapes[] = {
      {1, 16, 64, 64},   {1, 37, 192, 64},   {1, 130, 4096, 64},
      {1, 208, 256, 64}, {1, 21, 11008, 64},
  };
  std::mt19937 rng(7);
  for (const Shape4 &s : shapes)
    for (QuantType qt : {QuantType::NF4, QuantType::FP4})
      for (int compute : {BNBRT_UK_F32, BNBRT_UK_F16, BNBRT_UK_BF16})
        for (bool dq : {false, true}) {
          Case4bit c = make4bitCase(s, qt, compute, dq, rng);
          std::string what =
              "n=" + std::to_string(s.N) + " k=" + std::to_string(s.K) +
              " compute=" + std::to_string(compute) + (dq ? " dq" : "") +
              (qt == QuantType::NF4 ? " nf4" : " fp4");
          SCOPED_TRACE(what);
          std::vector<float> out(static_cast<size_t>(s.N));
          const RepackStats before = RepackStats::now();
          {
            auto registered = registerAll(c.wq, dq);
            acrossIsasAndThreads(
                out, [&] { c.wq.run(out, c.x, 1, s.N, s.K, dq, compute); },
                [&](const std::string &) {
                  expectClose(out, c.ref, c.mag, what);
                });
            EXPECT_EQ(RepackStats::now().calls - before.calls,
                      expectedRepackedRuns(compute));
          }
          EXPECT_EQ(RepackStats::now().held, 0u)
              << "the release kept a repacked copy";
        }
}

TEST_F(RepackedGemvTest, OnlyRegisteredWeightsAreRepacked) {
  if (expectedRepackedRuns(BNBRT_UK_F32) == 0)
    GTEST_SKIP() << "no AVX-512 on this machine";
  std::mt19937 rng(8);
  const Shape4 s{1, 48, 256, 64};
  Case4bit c = make4bitCase(s, QuantType::NF4, BNBRT_UK_F32, true, rng);
  std::vector<float> out(48);
  auto run = [&] {
    uint64_t calls = RepackStats::now().calls;
    c.wq.run(out, c.x, 1, s.N, s.K, true, BNBRT_UK_F32);
    EXPECT_EQ(bnbrt_last_error(), nullptr);
    expectClose(out, c.ref, c.mag, "nf4 dq");
    return RepackStats::now().calls - calls;
  };
  EXPECT_EQ(run(), 0u) << "repacked weights nobody declared immutable";
  {
    // The codes alone are not enough: the absmax must not change either.
    // The 8-bit map needs no registration (compiled code passes it from
    // its constants): it is compared by value.
    Registration packed(c.wq.packed), codes(c.wq.codes);
    EXPECT_EQ(run(), 0u);
    Registration nested(c.wq.nested);
    EXPECT_EQ(run(), 1u);
    EXPECT_EQ(RepackStats::now().held, 1u);
    EXPECT_EQ(run(), 1u);
    EXPECT_EQ(RepackStats::now().held, 1u) << "made a second copy";
  }
  EXPECT_EQ(RepackStats::now().held, 0u);
  EXPECT_EQ(run(), 0u);
}

TEST_F(RepackedGemvTest, AChangedEightBitMapIsSeen) {
  if (expectedRepackedRuns(BNBRT_UK_F32) == 0)
    GTEST_SKIP() << "no AVX-512 on this machine";
  std::mt19937 rng(11);
  const Shape4 s{1, 32, 512, 64};
  Case4bit c = make4bitCase(s, QuantType::NF4, BNBRT_UK_F32, true, rng);
  std::vector<float> repacked(32), rowMajor(32);
  auto registered = registerAll(c.wq, true);
  c.wq.run(repacked, c.x, 1, s.N, s.K, true, BNBRT_UK_F32);
  expectClose(repacked, c.ref, c.mag, "first map");
  // Another map in the same memory: the copy made from the first is stale.
  for (float &v : c.wq.code8)
    v = 0.5f * v + 0.25f;
  const uint64_t calls = RepackStats::now().calls;
  c.wq.run(repacked, c.x, 1, s.N, s.K, true, BNBRT_UK_F32);
  EXPECT_EQ(RepackStats::now().calls, calls + 1);
  EXPECT_EQ(RepackStats::now().held, 1u);
  // The row-major kernel (checked against lib/Quant elsewhere) on an
  // unregistered copy of the weight is the reference.
  Weights4bit copy = c.wq;
  copy.run(rowMajor, c.x, 1, s.N, s.K, true, BNBRT_UK_F32);
  EXPECT_EQ(RepackStats::now().calls, calls + 1);
  std::vector<double> ref(rowMajor.begin(), rowMajor.end());
  expectClose(repacked, ref, c.mag, "second map");
}

TEST_F(RepackedGemvTest, RegistrationRules) {
  std::vector<uint8_t> bytes(4096);
  EXPECT_EQ(bnbrt_uk_weights_register(nullptr, 16), -1);
  EXPECT_EQ(bnbrt_uk_weights_register(bytes.data(), 0), -1);
  ASSERT_EQ(bnbrt_uk_weights_register(bytes.data(), 1024), 0);
  // Overlapping another range without equalling it.
  EXPECT_EQ(bnbrt_uk_weights_register(bytes.data() + 512, 1024), -1);
  EXPECT_EQ(bnbrt_uk_weights_register(bytes.data(), 2048), -1);
  EXPECT_EQ(bnbrt_uk_weights_register(bytes.data() + 1023, 2), -1);
  // Adjacent ranges and the same range again are fine.
  ASSERT_EQ(bnbrt_uk_weights_register(bytes.data() + 1024, 1024), 0);
  ASSERT_EQ(bnbrt_uk_weights_register(bytes.data(), 1024), 0);
  bnbrt_uk_weights_release(bytes.data());
  bnbrt_uk_weights_release(bytes.data());
  bnbrt_uk_weights_release(bytes.data() + 1024);
  // Unknown ranges are ignored.
  bnbrt_uk_weights_release(bytes.data() + 7);
  bnbrt_uk_weights_release(nullptr);
  // All released: the whole buffer registers again.
  ASSERT_EQ(bnbrt_uk_weights_register(bytes.data(), 4096), 0);
  bnbrt_uk_weights_release(bytes.data());
}

// A copy must never outlive its registration: after a release the caller may
// write the weights, and the next call has to see the new values.
TEST_F(RepackedGemvTest, ReleasedWeightsAreReadAgain) {
  if (expectedRepackedRuns(BNBRT_UK_BF16) == 0)
    GTEST_SKIP() << "no AVX512-BF16 on this machine";
  std::mt19937 rng(9);
  const Shape4 s{1, 32, 128, 64};
  Case4bit c = make4bitCase(s, QuantType::NF4, BNBRT_UK_BF16, false, rng);
  std::vector<float> out(32);
  {
    auto registered = registerAll(c.wq, false);
    c.wq.run(out, c.x, 1, s.N, s.K, false, BNBRT_UK_BF16);
    expectClose(out, c.ref, c.mag, "before");
  }
  // New codes and absmax in the same memory, then registered again.
  Case4bit d = make4bitCase(s, QuantType::NF4, BNBRT_UK_BF16, false, rng);
  const uint8_t *packedAt = c.wq.packed.data();
  const float *absmaxAt = c.wq.absmax.data();
  c.wq.packed = d.wq.packed; // same size: the buffers stay where they were
  c.wq.absmax = d.wq.absmax;
  ASSERT_EQ(c.wq.packed.data(), packedAt);
  ASSERT_EQ(c.wq.absmax.data(), absmaxAt);
  auto registered = registerAll(c.wq, false);
  const uint64_t calls = RepackStats::now().calls;
  c.wq.run(out, d.x, 1, s.N, s.K, false, BNBRT_UK_BF16);
  EXPECT_EQ(RepackStats::now().calls, calls + 1);
  expectClose(out, d.ref, d.mag, "after");
}

// vcvtneps2bf16 flushes denormal table entries: a group with a tiny absmax
// goes to the row kernel, whose exact fallback keeps them.
TEST_F(RepackedGemvTest, Bf16GroupsWithDenormalTablesStayExact) {
  if (expectedRepackedRuns(BNBRT_UK_BF16) == 0)
    GTEST_SKIP() << "no AVX512-BF16 on this machine";
  std::mt19937 rng(10);
  const Shape4 s{1, 48, 256, 64};
  Case4bit c = make4bitCase(s, QuantType::NF4, BNBRT_UK_BF16, false, rng);
  // Row 20 (second group): table entries down to 0.0796 * 2^-130.
  for (int64_t b = 0; b < 4; ++b)
    c.wq.absmax[20 * 4 + b] = 0x1p-130f;
  std::vector<float> w(static_cast<size_t>(s.N * s.K));
  std::vector<uint16_t> wt(w.size());
  dequantize4bit(c.wq.packed.data(), c.wq.absmax.data(), w.size(),
                 QuantType::NF4, 64, DType::BF16, wt.data());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = bfloat16ToFloat(wt[i]);
  // x times 2^110 (still bf16 values): row 20's products are about 2^-20,
  // far above the tolerance, so a flushed table would be seen.
  for (float &v : c.x)
    v = std::ldexp(v, 110);
  reference(c.x, w, 1, s.N, s.K, c.ref, c.mag);
  auto registered = registerAll(c.wq, false);
  uint64_t calls0 = 0, fallback0 = 0, calls1 = 0, fallback1 = 0;
  bnbrt_ukernel_bf16_gemv_stats(&calls0, &fallback0);
  ASSERT_EQ(bnbrt_ukernel_force_isa("avx512"), 0);
  std::vector<float> out(48);
  c.wq.run(out, c.x, 1, s.N, s.K, false, BNBRT_UK_BF16);
  bnbrt_ukernel_bf16_gemv_stats(&calls1, &fallback1);
  EXPECT_EQ(fallback1 - fallback0, 4u);
  expectClose(out, c.ref, c.mag, "denormal table");
}

} // namespace
