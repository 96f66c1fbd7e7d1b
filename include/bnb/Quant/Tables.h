//===- Tables.h - bitsandbytes code tables and thresholds -------*- C++ -*-===//
//
// The NF4 and FP4 code tables, the signed dynamic 8-bit map used for double
// quantization, and the decision thresholds of the CUDA quantization kernels,
// hard-coded bit for bit (bnb-numerics §2.1-2.3, §4.2). Nothing here is
// computed at run time: the dynamic map in particular cannot be rebuilt
// portably (bitsandbytes' construction depends on FMA inside torch.linspace).
//
//===----------------------------------------------------------------------===//

#ifndef BNB_QUANT_TABLES_H
#define BNB_QUANT_TABLES_H

#include "bnb/Quant/QuantType.h"

#include <cstdint>

namespace bnb::quant {

/// NF4 values by code, ascending; code 7 is 0, codes 0 and 15 are -1 and 1.
extern const float kNF4Table[16];

/// FP4 values by code (code order, not sorted): bit 3 is the sign, code 8 is
/// -0.0, as the CUDA dequantization kernel computes it (-1 * 0).
extern const float kFP4Table[16];

/// The signed dynamic 8-bit map: 127 negative values, 0 at index 127, 127
/// positive values, 1.0 at index 255; code[0] = -0.99296874.
extern const float kDynamicMap[256];

/// The 15 NF4 decision thresholds of the CUDA kernel, ascending: a normalized
/// value x gets code #{k : x > kNF4Thresholds[k]}. These are the kernel's
/// decimal float literals rounded directly to float, as nvcc compiles them
/// (checked in the PTX nvcc 13.0 emits): four of them (0|1, 8|9, 12|13,
/// 14|15) are one ulp away from the exact f32 midpoints of the table, which
/// bnb-numerics §2.3 lists instead.
extern const float kNF4Thresholds[15];

/// The 7 FP4 magnitude thresholds of the CUDA kernel (literals, five of which
/// differ from the exact f32 midpoints), ascending.
extern const float kFP4Thresholds[7];

/// The FP4 magnitude code (bits 0-2) of a value whose magnitude exceeds
/// `rank` of the kFP4Thresholds: ranks 0..7 give 000 001 110 111 100 101 010
/// 011, the order of the FP4 table's magnitudes. Ranks 2, 3, 6 and 7 (bit 1
/// set) flip bit 2.
constexpr unsigned fp4MagnitudeCode(unsigned rank) {
  return rank ^ ((rank & 2u) << 1);
}

/// The 16-entry code table of `qt` (kNF4Table or kFP4Table).
const float *codeTable(QuantType qt);

/// The `weight.quant_map` tensor bitsandbytes serializes for `qt`, as 16 f32
/// values. Equal to codeTable(qt) except that FP4's index 8 is +0.0:
/// bitsandbytes builds it from the Python list [..., -0, ...], whose integer
/// -0 is +0.
void serializedQuantMap(QuantType qt, float out[16]);

} // namespace bnb::quant

#endif // BNB_QUANT_TABLES_H
