// LLM.int8() end to end on the CPU against bnb-numerics.md TV7 and TV8;
// bnb-quantize quantizes the inline weight (SCB, CB), bnb-lower-to-cpu runs
// the expansion. Outputs are compared as f16 bit patterns, from the portable
// lowering and from the int8 microkernel of libbnb_runtime (both exact).
// RUN: split-file %s %t
// RUN: bnb-opt %t/tv7.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false ukernels=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN:   | FileCheck %s --check-prefix=TV7
// RUN: bnb-opt %t/tv8.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false ukernels=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN:   | FileCheck %s --check-prefix=TV8
// RUN: bnb-opt %t/tv7.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils,%bnb_runtime \
// RUN:   | FileCheck %s --check-prefix=TV7
// RUN: bnb-opt %t/tv8.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils,%bnb_runtime \
// RUN:   | FileCheck %s --check-prefix=TV8
// RUN: bnb-opt %t/f32-outlier.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false ukernels=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN:   | FileCheck %s --check-prefix=F32
// RUN: bnb-opt %t/f32-outlier.mlir --bnb-quantize --bnb-lower-to-cpu="externalize-weights=false runtime-alloc=false" \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils,%bnb_runtime \
// RUN:   | FileCheck %s --check-prefix=F32

// TV7, threshold 0: [0.505859375, 5.30078125] without bias (f16 14348, 17741);
// with the fused f16 bias [0.125, -1.0]: [0.630859375, 4.30078125].
// TV7: data =
// TV7-NEXT: [14348, 17741]
// TV7: data =
// TV7-NEXT: [14604, 17485]

// An f32 model, threshold 6.0: 5.9999 is 6.0 once cast to f16, so column 1
// is an outlier column, as bitsandbytes decides it on A.to(float16); the
// outlier product then takes x's own f32 value 5.9999, and the result stays
// f32: [[4.0948606, -8.602098], [-1.6181717, 4.535187]] (computed by hand
// from bnb-numerics.md §1; deciding the columns on the f32 values would lose
// column 1 and give [[1.0712891, 3.4921875], [-1.4921875, 4.03125]]).
// F32: data =
// F32-NEXT: {{\[}}[1082329369, -1056333262],
// F32-NEXT: [-1076944832, 1083252800]]

// TV8, threshold 6.0, column 1 goes through the f16 outlier path:
// [[5.1015625, -12.6328125], [-1.6181640625, 4.53515625]].
// TV8: data =
// TV8-NEXT: {{\[}}[17690, 51793],
// TV8-NEXT: [48761, 17545]]

//--- tv7.mlir
#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (j)>
module attributes {bnb.config = #bnb.config<load_in_8bit = true, llm_int8_threshold = 0.0, llm_int8_skip_modules = []>} {
  func.func private @printMemrefI32(tensor<*xi32>)
  func.func @linear(%x: tensor<1x4xf16>) -> tensor<1x2xf16> {
    %zero = arith.constant 0.0 : f16
    %w = arith.constant {bnb.name = "fc.weight"} dense<[[0.5, 0.5, -1.0, 0.25], [4.0, -2.0, 1.0, 0.0]]> : tensor<2x4xf16>
    %e = tensor.empty() : tensor<1x2xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<1x2xf16>) -> tensor<1x2xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<1x4xf16>, tensor<2x4xf16>) outs(%f : tensor<1x2xf16>) -> tensor<1x2xf16>
    return %y : tensor<1x2xf16>
  }
  func.func @linear_bias(%x: tensor<1x4xf16>) -> tensor<1x2xf16> {
    %zero = arith.constant 0.0 : f16
    %w = arith.constant {bnb.name = "fcb.weight"} dense<[[0.5, 0.5, -1.0, 0.25], [4.0, -2.0, 1.0, 0.0]]> : tensor<2x4xf16>
    %b = arith.constant {bnb.name = "fcb.bias"} dense<[0.125, -1.0]> : tensor<2xf16>
    %e = tensor.empty() : tensor<1x2xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<1x2xf16>) -> tensor<1x2xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<1x4xf16>, tensor<2x4xf16>) outs(%f : tensor<1x2xf16>) -> tensor<1x2xf16>
    %yb = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y, %b : tensor<1x2xf16>, tensor<2xf16>) outs(%e : tensor<1x2xf16>) {
    ^bb0(%a: f16, %c: f16, %o: f16):
      %s = arith.addf %a, %c : f16
      linalg.yield %s : f16
    } -> tensor<1x2xf16>
    return %yb : tensor<1x2xf16>
  }
  func.func @print(%y: tensor<1x2xf16>) {
    %e = tensor.empty() : tensor<1x2xi32>
    %wide = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y : tensor<1x2xf16>) outs(%e : tensor<1x2xi32>) {
    ^bb0(%h: f16, %o: i32):
      %a = arith.bitcast %h : f16 to i16
      %z = arith.extui %a : i16 to i32
      linalg.yield %z : i32
    } -> tensor<1x2xi32>
    %u = tensor.cast %wide : tensor<1x2xi32> to tensor<*xi32>
    call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
    return
  }
  func.func @main() {
    %x = arith.constant dense<[[1.0, -0.5, 0.25, 2.0]]> : tensor<1x4xf16>
    %y = call @linear(%x) : (tensor<1x4xf16>) -> tensor<1x2xf16>
    call @print(%y) : (tensor<1x2xf16>) -> ()
    %yb = call @linear_bias(%x) : (tensor<1x4xf16>) -> tensor<1x2xf16>
    call @print(%yb) : (tensor<1x2xf16>) -> ()
    return
  }
}

//--- tv8.mlir
#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
module attributes {bnb.config = #bnb.config<load_in_8bit = true, llm_int8_skip_modules = []>} {
  func.func private @printMemrefI32(tensor<*xi32>)
  func.func @linear(%x: tensor<2x4xf16>) -> tensor<2x2xf16> {
    %zero = arith.constant 0.0 : f16
    %w = arith.constant {bnb.name = "fc.weight"} dense<[[0.5, 0.5, -1.0, 0.25], [4.0, -2.0, 1.0, 0.0]]> : tensor<2x4xf16>
    %e = tensor.empty() : tensor<2x2xf16>
    %f = linalg.fill ins(%zero : f16) outs(%e : tensor<2x2xf16>) -> tensor<2x2xf16>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<2x4xf16>, tensor<2x4xf16>) outs(%f : tensor<2x2xf16>) -> tensor<2x2xf16>
    return %y : tensor<2x2xf16>
  }
  func.func @main() {
    %x = arith.constant dense<[[1.0, 8.0, -0.5, 0.25], [0.5, -0.25, 2.0, 1.0]]> : tensor<2x4xf16>
    %y = call @linear(%x) : (tensor<2x4xf16>) -> tensor<2x2xf16>
    %e = tensor.empty() : tensor<2x2xi32>
    %wide = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y : tensor<2x2xf16>) outs(%e : tensor<2x2xi32>) {
    ^bb0(%h: f16, %o: i32):
      %a = arith.bitcast %h : f16 to i16
      %z = arith.extui %a : i16 to i32
      linalg.yield %z : i32
    } -> tensor<2x2xi32>
    %u = tensor.cast %wide : tensor<2x2xi32> to tensor<*xi32>
    call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
    return
  }
}

//--- f32-outlier.mlir
#mA = affine_map<(m, n, k) -> (m, k)>
#mBt = affine_map<(m, n, k) -> (n, k)>
#mC = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(i, j) -> (i, j)>
module attributes {bnb.config = #bnb.config<load_in_8bit = true, llm_int8_skip_modules = []>} {
  func.func private @printMemrefI32(tensor<*xi32>)
  func.func @linear(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
    %zero = arith.constant 0.0 : f32
    %w = arith.constant {bnb.name = "fc.weight"} dense<[[0.5, 0.5, -1.0, 0.25], [4.0, -2.0, 1.0, 0.0]]> : tensor<2x4xf32>
    %e = tensor.empty() : tensor<2x2xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
    %y = linalg.matmul indexing_maps = [#mA, #mBt, #mC] ins(%x, %w : tensor<2x4xf32>, tensor<2x4xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
    return %y : tensor<2x2xf32>
  }
  func.func @main() {
    %x = arith.constant dense<[[1.0, 5.9999, -0.5, 0.25], [0.5, -0.25, 2.0, 1.0]]> : tensor<2x4xf32>
    %y = call @linear(%x) : (tensor<2x4xf32>) -> tensor<2x2xf32>
    %e = tensor.empty() : tensor<2x2xi32>
    %bits = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
           ins(%y : tensor<2x2xf32>) outs(%e : tensor<2x2xi32>) {
    ^bb0(%v: f32, %o: i32):
      %b = arith.bitcast %v : f32 to i32
      linalg.yield %b : i32
    } -> tensor<2x2xi32>
    %u = tensor.cast %bits : tensor<2x2xi32> to tensor<*xi32>
    call @printMemrefI32(%u) : (tensor<*xi32>) -> ()
    return
  }
}
