// The blockwise primitives on the CPU against bnb-numerics.md TV1-TV6:
// packed bytes, absmax, 8-bit codes and the double-quant reconstruction.
// RUN: bnb-opt %s --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false ukernels=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN:   | FileCheck %s

#id = affine_map<(i) -> (i)>

func.func private @printMemrefI32(tensor<*xi32>)
func.func private @printMemrefF32(tensor<*xf32>)

func.func @print_bytes(%p: tensor<?x1xui8>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %p, %c0 : tensor<?x1xui8>
  %flat = tensor.collapse_shape %p [[0, 1]] : tensor<?x1xui8> into tensor<?xui8>
  %i8 = tensor.bitcast %flat : tensor<?xui8> to tensor<?xi8>
  %e = tensor.empty(%n) : tensor<?xi32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
         ins(%i8 : tensor<?xi8>) outs(%e : tensor<?xi32>) {
  ^bb0(%a: i8, %o: i32):
    %z = arith.extui %a : i8 to i32
    linalg.yield %z : i32
  } -> tensor<?xi32>
  %u = tensor.cast %w : tensor<?xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func @print_codes(%q: tensor<?xui8>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %q, %c0 : tensor<?xui8>
  %i8 = tensor.bitcast %q : tensor<?xui8> to tensor<?xi8>
  %e = tensor.empty(%n) : tensor<?xi32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
         ins(%i8 : tensor<?xi8>) outs(%e : tensor<?xi32>) {
  ^bb0(%a: i8, %o: i32):
    %z = arith.extui %a : i8 to i32
    linalg.yield %z : i32
  } -> tensor<?xi32>
  %u = tensor.cast %w : tensor<?xi32> to tensor<*xi32>
  call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
  return
}

func.func @print_f32(%x: tensor<?xf32>) {
  %u = tensor.cast %x : tensor<?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

// TV1 NF4: 00 00 01 11 11 11 12 22 22 33 33 44 45 55 66 67 77 88 99 9a aa bb bc cc cd dd de ee ee ee ff ff
// CHECK-LABEL: TV1
// CHECK: [0,  0,  1,  17,  17,  17,  18,  34,  34,  51,  51,  68,  69,  85,  102,  103,  119,  136,  153,  154,  170,  187,  188,  204,  205,  221,  222,  238,  238,  238,  255,  255]
// The same bytes for the input times 4, absmax 4.
// CHECK: [0,  0,  1,  17,  17,  17,  18,  34,  34,  51,  51,  68,  69,  85,  102,  103,  119,  136,  153,  154,  170,  187,  188,  204,  205,  221,  222,  238,  238,  238,  255,  255]
// CHECK: [4]
// TV2 FP4: bb bb bb aa aa aa aa dd dd dc cc cf ff ee ee 99 01 16 66 67 77 44 44 55 55 52 22 22 22 23 33 33
// CHECK-LABEL: TV2
// CHECK: [187,  187,  187,  170,  170,  170,  170,  221,  221,  220,  204,  207,  255,  238,  238,  153,  1,  22,  102,  103,  119,  68,  68,  85,  85,  82,  34,  34,  34,  35,  51,  51]
// TV3 odd length: c0 a7.
// CHECK-LABEL: TV3
// CHECK: [192,  167]
// TV4 all-zero block: 32 bytes 00, absmax 0, dequantized -0.0.
// CHECK-LABEL: TV4
// CHECK: [0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0]
// CHECK: [0]
// CHECK: [-0,  -0,
// TV5 8-bit dynamic: [0, 35, 127, 142, 219, 237, 255] then zeros (127).
// CHECK-LABEL: TV5
// CHECK: [0,  35,  127,  142,  219,  237,  255,  127,
// Ties go to the even index: 0.49374998 -> 218, 0.5078125 -> 220.
// CHECK: [218,  220,  127,
// TV6 double quant of [2, 3, 5, 6] with offset 4: codes [0, 35, 219, 255],
// nested absmax 2, reconstruction [2.0140624, 2.9984374, 5.0015626, 6.0].
// CHECK-LABEL: TV6
// CHECK: [0,  35,  219,  255]
// CHECK: [2]
// CHECK: [2.01406,  2.99844,  5.00156,  6]
func.func @main() {
  %tv1 = arith.constant dense<[-1.0, -0.96875, -0.9375, -0.90625, -0.875, -0.84375, -0.8125, -0.78125, -0.75, -0.71875, -0.6875, -0.65625, -0.625, -0.59375, -0.5625, -0.53125, -0.5, -0.46875, -0.4375, -0.40625, -0.375, -0.34375, -0.3125, -0.28125, -0.25, -0.21875, -0.1875, -0.15625, -0.125, -0.09375, -0.0625, -0.03125, 0.0, 0.03125, 0.0625, 0.09375, 0.125, 0.15625, 0.1875, 0.21875, 0.25, 0.28125, 0.3125, 0.34375, 0.375, 0.40625, 0.4375, 0.46875, 0.5, 0.53125, 0.5625, 0.59375, 0.625, 0.65625, 0.6875, 0.71875, 0.75, 0.78125, 0.8125, 0.84375, 0.875, 0.90625, 0.9375, 0.96875]> : tensor<64xf16>
  vector.print str "TV1\n"
  %p1, %a1 = bnb.quantize_4bit %tv1 {quant_type = #bnb.quant_type<nf4>} : tensor<64xf16> -> tensor<32x1xui8>, tensor<1xf32>
  %p1d = tensor.cast %p1 : tensor<32x1xui8> to tensor<?x1xui8>
  call @print_bytes(%p1d) : (tensor<?x1xui8>) -> ()
  %four = arith.constant dense<4.0> : tensor<64xf16>
  %tv1x4 = arith.mulf %tv1, %four : tensor<64xf16>
  %p4, %a4 = bnb.quantize_4bit %tv1x4 {quant_type = #bnb.quant_type<nf4>} : tensor<64xf16> -> tensor<32x1xui8>, tensor<1xf32>
  %p4d = tensor.cast %p4 : tensor<32x1xui8> to tensor<?x1xui8>
  call @print_bytes(%p4d) : (tensor<?x1xui8>) -> ()
  %a4d = tensor.cast %a4 : tensor<1xf32> to tensor<?xf32>
  call @print_f32(%a4d) : (tensor<?xf32>) -> ()

  vector.print str "TV2\n"
  %p2, %a2 = bnb.quantize_4bit %tv1 {quant_type = #bnb.quant_type<fp4>} : tensor<64xf16> -> tensor<32x1xui8>, tensor<1xf32>
  %p2d = tensor.cast %p2 : tensor<32x1xui8> to tensor<?x1xui8>
  call @print_bytes(%p2d) : (tensor<?x1xui8>) -> ()

  vector.print str "TV3\n"
  %tv3 = arith.constant dense<[0.5, -1.0, 0.25]> : tensor<3xf32>
  %p3, %a3 = bnb.quantize_4bit %tv3 {quant_type = #bnb.quant_type<nf4>} : tensor<3xf32> -> tensor<2x1xui8>, tensor<1xf32>
  %p3d = tensor.cast %p3 : tensor<2x1xui8> to tensor<?x1xui8>
  call @print_bytes(%p3d) : (tensor<?x1xui8>) -> ()

  vector.print str "TV4\n"
  %zeros = arith.constant dense<0.0> : tensor<64xf16>
  %pz, %az = bnb.quantize_4bit %zeros {quant_type = #bnb.quant_type<nf4>} : tensor<64xf16> -> tensor<32x1xui8>, tensor<1xf32>
  %pzd = tensor.cast %pz : tensor<32x1xui8> to tensor<?x1xui8>
  call @print_bytes(%pzd) : (tensor<?x1xui8>) -> ()
  %azd = tensor.cast %az : tensor<1xf32> to tensor<?xf32>
  call @print_f32(%azd) : (tensor<?xf32>) -> ()
  %dz = bnb.dequantize_4bit %pz, %az {quant_type = #bnb.quant_type<nf4>} : tensor<32x1xui8>, tensor<1xf32> -> tensor<64xf32>
  %dzd = tensor.cast %dz : tensor<64xf32> to tensor<?xf32>
  call @print_f32(%dzd) : (tensor<?xf32>) -> ()

  vector.print str "TV5\n"
  %tv5 = arith.constant dense<[-1.0, -0.5, 0.0, 0.001, 0.5, 0.75, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]> : tensor<64xf32>
  %q5, %a5 = bnb.quantize_blockwise %tv5 {blocksize = 64 : i64} : tensor<64xf32> -> tensor<64xui8>, tensor<1xf32>
  %q5d = tensor.cast %q5 : tensor<64xui8> to tensor<?xui8>
  call @print_codes(%q5d) : (tensor<?xui8>) -> ()
  %ties = arith.constant dense<[0x3EFCCCCC, 0x3F020000, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]> : tensor<64xf32>
  %qt, %at = bnb.quantize_blockwise %ties {blocksize = 64 : i64} : tensor<64xf32> -> tensor<64xui8>, tensor<1xf32>
  %qtd = tensor.cast %qt : tensor<64xui8> to tensor<?xui8>
  call @print_codes(%qtd) : (tensor<?xui8>) -> ()

  vector.print str "TV6\n"
  %absmax = arith.constant dense<[-2.0, -1.0, 1.0, 2.0]> : tensor<4xf32>
  %q6, %n6 = bnb.quantize_blockwise %absmax {blocksize = 256 : i64} : tensor<4xf32> -> tensor<4xui8>, tensor<1xf32>
  %q6d = tensor.cast %q6 : tensor<4xui8> to tensor<?xui8>
  call @print_codes(%q6d) : (tensor<?xui8>) -> ()
  %n6d = tensor.cast %n6 : tensor<1xf32> to tensor<?xf32>
  call @print_f32(%n6d) : (tensor<?xf32>) -> ()
  %r6 = bnb.dequantize_blockwise %q6, %n6 {blocksize = 256 : i64} : tensor<4xui8>, tensor<1xf32> -> tensor<4xf32>
  %offset = arith.constant dense<4.0> : tensor<4xf32>
  %rec = arith.addf %r6, %offset : tensor<4xf32>
  %recd = tensor.cast %rec : tensor<4xf32> to tensor<?xf32>
  call @print_f32(%recd) : (tensor<?xf32>) -> ()
  return
}
