//===- Repacked4bit.cpp - immutable weight ranges and their repacks -------===//

#include "Repacked4bit.h"

#include "../MemoryTracker.h"
#include "bnb_ukernels.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <vector>

namespace bnb::rt::uk {
namespace {

/// Everything that decides a repack's content besides the packed bytes.
/// The 8-bit map of double quantization is compared by value: compiled
/// code passes it from its own constants, which no caller registers.
struct Key {
  int64_t N = 0, K = 0;
  AbsmaxSource absmax;
  float code8[256] = {};

  Key() = default;
  Key(const Linear4bitProblem &p) : N(p.N), K(p.K), absmax(p.absmax) {
    if (absmax.code8)
      std::memcpy(code8, absmax.code8, sizeof(code8));
    absmax.code8 = nullptr; // its values are in code8
  }

  bool matches(const Linear4bitProblem &p) const {
    const AbsmaxSource &s = p.absmax;
    return N == p.N && K == p.K && absmax.absmax == s.absmax &&
           absmax.codes == s.codes && absmax.nested == s.nested &&
           absmax.nestedBlocksize == s.nestedBlocksize &&
           bitsOf(absmax.offset) == bitsOf(s.offset) &&
           (!s.code8 || std::memcmp(code8, s.code8, sizeof(code8)) == 0);
  }
};

/// One repacked weight and the memory holding it.
struct Entry {
  Key key;
  Repacked4bit value;
  void *storage = nullptr;
};

/// A registered range: [begin, end), registered `count` times.
struct Range {
  uintptr_t end = 0;
  int count = 0;
};

/// The registered ranges and the repacks made from them. Never destroyed:
/// a model may still run while static destructors do.
struct Registry {
  std::mutex mutex;
  std::map<uintptr_t, Range> ranges;        // by begin; never overlapping
  std::map<const uint8_t *, Entry> entries; // by packed weight

  /// True when [p, p + bytes) lies inside one registered range.
  bool inside(const void *p, uint64_t bytes) const {
    auto begin = reinterpret_cast<uintptr_t>(p);
    auto it = ranges.upper_bound(begin);
    if (it == ranges.begin())
      return false;
    --it;
    return begin >= it->first && begin < it->second.end &&
           bytes <= it->second.end - begin;
  }

  /// True when every array `p`'s repack reads is inside registered ranges.
  bool immutable(const Linear4bitProblem &p) const {
    const int64_t blocks = p.N * (p.K / kRepackBlocksize);
    if (!inside(p.packed, uint64_t(p.N) * uint64_t(p.K / 2)))
      return false;
    const AbsmaxSource &s = p.absmax;
    if (s.absmax)
      return inside(s.absmax, uint64_t(blocks) * 4);
    const int64_t nests = (blocks + s.nestedBlocksize - 1) / s.nestedBlocksize;
    return inside(s.codes, uint64_t(blocks)) &&
           inside(s.nested, uint64_t(nests) * 4);
  }

  /// Frees `e`'s memory.
  static void drop(Entry &e) {
    MemoryTracker::get().onFree(BNBRT_POOL_HOST, e.storage);
    std::free(e.storage);
  }
};

Registry &registry() {
  static Registry *r = new Registry;
  return *r;
}

/// Repacking is on unless BNB_UKERNEL_REPACK=0.
bool repackEnabled() {
  static const bool enabled = [] {
    const char *env = std::getenv("BNB_UKERNEL_REPACK");
    return !(env && env[0] == '0' && env[1] == '\0');
  }();
  return enabled;
}

/// Copies group `g` of `p`'s weight into the repacked arrays.
void repackGroup(const Linear4bitProblem &p, const Repacked4bit &r, int64_t g,
                 uint8_t *codes, float *absmax, uint32_t *minMagnitude) {
  const int64_t half = p.K / 2;
  float *rowAbsmax = static_cast<float *>(
      scratch(0, sizeof(float) * static_cast<size_t>(r.blocksPerRow)));
  NestedAbsmax cache;
  uint32_t least = 0x7f800000u;
  uint8_t *groupCodes = codes + g * r.groupCodeBytes();
  float *groupAbsmax = absmax + g * r.blocksPerRow * kRepackRows;
  for (int64_t i = 0; i < kRepackRows; ++i) {
    const int64_t n = g * kRepackRows + i;
    const uint8_t *row = p.packed + n * half;
    const float *a =
        p.absmax.range(n * r.blocksPerRow, r.blocksPerRow, rowAbsmax, cache);
    for (int64_t b = 0; b < r.blocksPerRow; ++b) {
      std::memcpy(groupCodes + (b * kRepackRows + i) * 32, row + b * 32, 32);
      groupAbsmax[b * kRepackRows + i] = a[b];
      uint32_t magnitude = bitsOf(a[b]) & 0x7fffffffu;
      if (magnitude != 0 && magnitude <= 0x7f800000u && magnitude < least)
        least = magnitude;
    }
  }
  minMagnitude[g] = least;
}

/// The size of a transparent huge page on x86-64.
constexpr size_t kHugePage = size_t(2) << 20;

/// Makes the repack of `p`'s weight into `e`; false when memory ran out.
bool build(const Linear4bitProblem &p, Entry &e) {
  Repacked4bit &r = e.value;
  r.N = p.N;
  r.K = p.K;
  r.groups = p.N / kRepackRows;
  r.blocksPerRow = p.K / kRepackBlocksize;
  const uint64_t codeBytes = uint64_t(r.groups) * uint64_t(r.groupCodeBytes());
  const uint64_t absmaxBytes =
      uint64_t(r.groups) * uint64_t(r.blocksPerRow) * kRepackRows * 4;
  const uint64_t minBytes = uint64_t(r.groups) * 4;
  const uint64_t total = codeBytes + absmaxBytes + minBytes;
  // Transparent huge pages where the system gives them on request (a 7B
  // model's copy is 3.5 GB): faulting a 4096 x 11008 copy in took 13.5 ms
  // in 4 KiB pages, 3 ms in 2 MiB ones.
  const size_t align = total >= kHugePage ? kHugePage : 64;
  void *storage = nullptr;
  if (posix_memalign(&storage, align, total ? size_t(total) : 1) != 0)
    return false;
#ifdef MADV_HUGEPAGE
  if (align == kHugePage)
    madvise(storage, (total + kHugePage - 1) / kHugePage * kHugePage,
            MADV_HUGEPAGE);
#endif
  // Charged like the weights it copies (bnb-run --report).
  MemoryTracker::get().onAlloc(BNBRT_POOL_HOST, storage, total,
                               BNBRT_CATEGORY_WEIGHTS);
  e.storage = storage;
  auto *codes = static_cast<uint8_t *>(storage);
  auto *absmax = reinterpret_cast<float *>(codes + codeBytes);
  auto *minMagnitude = reinterpret_cast<uint32_t *>(
      reinterpret_cast<uint8_t *>(absmax) + absmaxBytes);
  r.codes = codes;
  r.absmax = absmax;
  r.minMagnitude = minMagnitude;

  // Faulted in by this thread before the copy: two threads faulting one
  // mapping in parallel contend in the kernel, and the copy of a 4096 x
  // 11008 weight took 47 ms instead of 3 + 3 ms (page faults + copy).
  std::memset(storage, 0, total);
  // Groups in parallel: a 7B model repacks about 3.5 GB at its first step.
  struct Context {
    const Linear4bitProblem *p;
    Repacked4bit *r;
    uint8_t *codes;
    float *absmax;
    uint32_t *minMagnitude;
  } context{&p, &r, codes, absmax, minMagnitude};
  parallelChunks(
      r.groups,
      [](void *opaque, int64_t g) {
        auto &c = *static_cast<Context *>(opaque);
        repackGroup(*c.p, *c.r, g, c.codes, c.absmax, c.minMagnitude);
      },
      &context);
  return true;
}

} // namespace

const Repacked4bit *repacked4bit(const Linear4bitProblem &p) {
  if (!repackEnabled() || p.blocksize != kRepackBlocksize ||
      p.K % kRepackBlocksize != 0 || p.N < kRepackRows || p.K <= 0)
    return nullptr;
  Registry &reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  if (reg.ranges.empty() || !reg.immutable(p))
    return nullptr;
  auto it = reg.entries.find(p.packed);
  if (it != reg.entries.end()) {
    if (it->second.key.matches(p))
      return &it->second.value;
    // The same bytes viewed as another shape: make that one instead.
    Registry::drop(it->second);
    reg.entries.erase(it);
  }
  Entry e;
  e.key = Key(p);
  if (!build(p, e)) {
    if (e.storage)
      Registry::drop(e);
    return nullptr;
  }
  return &reg.entries.emplace(p.packed, e).first->second.value;
}

size_t repackedCount() {
  Registry &reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  return reg.entries.size();
}

} // namespace bnb::rt::uk

using namespace bnb::rt::uk;

extern "C" {

BNBRT_API int bnbrt_uk_weights_register(const void *data, uint64_t bytes) {
  if (!data || bytes == 0)
    return -1;
  auto begin = reinterpret_cast<uintptr_t>(data);
  if (bytes > UINTPTR_MAX - begin)
    return -1;
  const uintptr_t end = begin + bytes;
  Registry &reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  auto next = reg.ranges.lower_bound(begin);
  if (next != reg.ranges.end() && next->first == begin) {
    if (next->second.end != end)
      return -1;
    ++next->second.count;
    return 0;
  }
  if (next != reg.ranges.end() && next->first < end)
    return -1;
  if (next != reg.ranges.begin() && std::prev(next)->second.end > begin)
    return -1;
  reg.ranges.emplace(begin, Range{end, 1});
  return 0;
}

BNBRT_API void bnbrt_uk_weights_release(const void *data) {
  Registry &reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  auto range = reg.ranges.find(reinterpret_cast<uintptr_t>(data));
  if (range == reg.ranges.end() || --range->second.count > 0)
    return;
  const uintptr_t begin = range->first, end = range->second.end;
  reg.ranges.erase(range);
  // Every repack that read any byte of the range goes with it.
  auto within = [&](const void *p) {
    auto a = reinterpret_cast<uintptr_t>(p);
    return p && a >= begin && a < end;
  };
  for (auto it = reg.entries.begin(); it != reg.entries.end();) {
    const AbsmaxSource &s = it->second.key.absmax;
    if (within(it->first) || within(s.absmax) || within(s.codes) ||
        within(s.nested)) {
      Registry::drop(it->second);
      it = reg.entries.erase(it);
    } else {
      ++it;
    }
  }
}

} // extern "C"
