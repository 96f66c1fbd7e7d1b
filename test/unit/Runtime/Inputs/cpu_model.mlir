// A CPU "model" linked against libbnb_runtime alone: it allocates, copies a
// transposed (non-contiguous) view with memref.copy, reduces and frees.
// run(x: 4x6) = sum_{i<6, j<4} x[j][i] * (4 * i + j + 1)
func.func @run(%x: memref<4x6xf32>) -> f32 attributes {llvm.emit_c_interface} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  %t = memref.transpose %x (i, j) -> (j, i)
      : memref<4x6xf32> to memref<6x4xf32, strided<[1, 6]>>
  %buf = memref.alloc() {alignment = 64} : memref<6x4xf32>
  memref.copy %t, %buf : memref<6x4xf32, strided<[1, 6]>> to memref<6x4xf32>
  %sum = scf.for %i = %c0 to %c6 step %c1 iter_args(%acc = %zero) -> (f32) {
    %row = scf.for %j = %c0 to %c4 step %c1 iter_args(%a = %acc) -> (f32) {
      %v = memref.load %buf[%i, %j] : memref<6x4xf32>
      %i4 = arith.muli %i, %c4 : index
      %k = arith.addi %i4, %j : index
      %k1 = arith.addi %k, %c1 : index
      %ki = arith.index_cast %k1 : index to i32
      %w = arith.sitofp %ki : i32 to f32
      %p = arith.mulf %v, %w : f32
      %s = arith.addf %a, %p : f32
      scf.yield %s : f32
    }
    scf.yield %row : f32
  }
  memref.dealloc %buf : memref<6x4xf32>
  return %sum : f32
}
