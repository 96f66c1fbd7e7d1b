// RUN: bnb-opt %s -split-input-file -bnb-memory-report -verify-diagnostics -o /dev/null

// Sizes past the report's int64_t range (only a hand-written graph has
// them: bnb-compile refuses such types) are refused, not wrapped around:
// 2^31 x 2^31 elements fit int64_t, their 16-bit size does not.
func.func @f(%x: tensor<1x2147483648xf16>, %w: tensor<2147483648x2147483648xi8>, %s: tensor<2147483648xf32>) -> tensor<1x2147483648xf16> {
  // expected-error @below {{the memory report counts bytes in int64_t; this graph's weights exceed 2^62 bytes}}
  %y = bnb.linear_int8 %x, %w scb(%s : tensor<2147483648xf32>) {module = "l"} : tensor<1x2147483648xf16>, tensor<2147483648x2147483648xi8> -> tensor<1x2147483648xf16>
  return %y : tensor<1x2147483648xf16>
}

// -----

// expected-error @below {{the memory report counts bytes in int64_t; this graph's weights exceed 2^62 bytes}}
ml_program.global private @"big.weight"(#ml_program.extern : tensor<4611686018427387904x4xf16>) : tensor<4611686018427387904x4xf16>

// -----

// A module without bnb.config and without layers (the default config is a
// bnb attribute: the pass loads the dialect itself).
module {
}
