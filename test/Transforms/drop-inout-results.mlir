// RUN: bnb-opt %s -split-input-file -bnb-drop-inout-results -verify-diagnostics | FileCheck %s

// A decode step's KV cache, updated in place in its argument, is no longer
// a result: the caller's buffer holds it. The logits stay a result.
// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[X:.+]]: memref<1x1x4xf32>, %[[K:.+]]: memref<1x8x4xf32> {bnb.kv_cache}) -> memref<1x1x4xf32>
// CHECK: memref.copy %[[X]], %{{.+}}
// CHECK: return %{{.+}} : memref<1x1x4xf32>
func.func @decode(%x: memref<1x1x4xf32>, %k: memref<1x8x4xf32> {bnb.kv_cache}) -> (memref<1x1x4xf32>, memref<1x8x4xf32> {bnb.kv_cache}) {
  %c0 = arith.constant 0 : index
  %sub = memref.subview %k[0, %c0, 0] [1, 1, 4] [1, 1, 1] : memref<1x8x4xf32> to memref<1x1x4xf32, strided<[32, 4, 1], offset: ?>>
  memref.copy %x, %sub : memref<1x1x4xf32> to memref<1x1x4xf32, strided<[32, 4, 1], offset: ?>>
  %out = memref.alloc() : memref<1x1x4xf32>
  return %out, %k : memref<1x1x4xf32>, memref<1x8x4xf32>
}

// Private functions and results that are not arguments are left alone.
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: -> (memref<2xf32>, memref<2xf32>)
func.func private @helper(%a: memref<2xf32>) -> (memref<2xf32>, memref<2xf32>) {
  %b = memref.alloc() : memref<2xf32>
  return %a, %b : memref<2xf32>, memref<2xf32>
}

// -----

// A KV cache that bufferization had to copy is an error: the cache would be
// copied at every token.
// expected-error @+1 {{'func.func' op result 1 is a KV cache that is not updated in place in its argument (bufferization copies it)}}
func.func @copied(%x: memref<1x1x4xf32>, %k: memref<1x8x4xf32> {bnb.kv_cache}) -> (memref<1x1x4xf32>, memref<1x8x4xf32> {bnb.kv_cache}) {
  %copy = memref.alloc() : memref<1x8x4xf32>
  memref.copy %k, %copy : memref<1x8x4xf32> to memref<1x8x4xf32>
  return %x, %copy : memref<1x1x4xf32>, memref<1x8x4xf32>
}
