// The host allocation and copy calls of memref lowering: alloc with and
// without alignment, dealloc, and memref.copy of a strided memref.
func.func @f(%n: index, %src: memref<?x?xf32, strided<[?, ?], offset: ?>>) -> memref<?xf32> {
  %a = memref.alloc(%n) : memref<?xf32>
  %b = memref.alloc(%n) {alignment = 64} : memref<?xf32>
  %c = memref.alloc(%n, %n) : memref<?x?xf32>
  memref.copy %src, %c : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<?x?xf32>
  memref.dealloc %b : memref<?xf32>
  memref.dealloc %c : memref<?x?xf32>
  return %a : memref<?xf32>
}
