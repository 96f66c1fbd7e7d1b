// nvgpu.tma.create.descriptor lowers to mgpuTensorMapEncodeTiledMemref.
!map = !nvgpu.tensormap.descriptor<tensor = memref<64x128xf16, 3>, swizzle = none, l2promo = none, oob = zero, interleave = none>
func.func @tma(%src: memref<*xf16>) -> !llvm.ptr {
  %c64 = arith.constant 64 : index
  %c128 = arith.constant 128 : index
  %d = nvgpu.tma.create.descriptor %src box[%c64, %c128] : memref<*xf16> -> !map
  %p = builtin.unrealized_conversion_cast %d : !map to !llvm.ptr
  return %p : !llvm.ptr
}
