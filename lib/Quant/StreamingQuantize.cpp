//===- StreamingQuantize.cpp - layer state dicts in pieces ----------------===//

#include "bnb/Quant/StreamingQuantize.h"

#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Quant/Int8.h"

#include "llvm/Support/ThreadPool.h"

#include <future>
#include <vector>

using namespace bnb;
using namespace bnb::quant;

namespace {

/// Elements per piece: about a megabyte of input, enough to amortize a
/// task and a write call, small enough to stay in the caches between being
/// quantized and being written.
constexpr size_t kPieceElements = size_t(1) << 20;

/// Pieces quantized ahead of the one being written.
constexpr size_t kPiecesInFlight = 4;

/// Runs produce(i, buffer) for pieces i in [0, count) on `pool` (or inline
/// without one), at most kPiecesInFlight ahead, and consume(i, buffer) on the
/// calling thread in order. Each in-flight piece has its own buffer of
/// `bufferBytes`.
template <typename Produce, typename Consume>
llvm::Error pipeline(size_t count, size_t bufferBytes,
                     llvm::ThreadPoolInterface *pool, Produce produce,
                     Consume consume) {
  size_t slots = pool ? std::min(count, kPiecesInFlight) : 1;
  std::vector<std::vector<uint8_t>> buffers(slots);
  for (std::vector<uint8_t> &buffer : buffers)
    buffer.resize(bufferBytes);
  if (!pool) {
    for (size_t i = 0; i < count; ++i) {
      produce(i, buffers[0].data());
      if (llvm::Error error = consume(i, buffers[0].data()))
        return error;
    }
    return llvm::Error::success();
  }
  std::vector<std::shared_future<void>> pending(slots);
  size_t next = 0;
  // Piece i always uses slot i % slots: it is submitted once piece
  // i - slots, the slot's previous user, has been consumed.
  auto submit = [&] {
    size_t i = next++;
    uint8_t *buffer = buffers[i % slots].data();
    pending[i % slots] =
        pool->async([&produce, i, buffer] { produce(i, buffer); });
  };
  while (next < slots)
    submit();
  for (size_t i = 0; i < count; ++i) {
    pending[i % slots].wait();
    if (llvm::Error error = consume(i, buffers[i % slots].data())) {
      // The tasks still running use the buffers and `produce`.
      for (size_t j = i + 1; j < next; ++j)
        pending[j % slots].wait();
      return error;
    }
    if (next < count)
      submit();
  }
  return llvm::Error::success();
}

size_t product(llvm::ArrayRef<int64_t> shape) {
  size_t n = 1;
  for (int64_t dim : shape)
    n *= static_cast<size_t>(dim);
  return n;
}

} // namespace

llvm::Error bnb::quant::streamLinear4bit(
    const void *w, DType dt, llvm::ArrayRef<int64_t> shape, QuantType qt,
    int64_t blocksize, bool doubleQuant, DType quantStorage,
    std::optional<float> expectedOffset, llvm::StringRef prefix,
    llvm::ThreadPoolInterface *pool, TensorPieceSink sink) {
  size_t n = product(shape);
  size_t bs = static_cast<size_t>(blocksize);
  // Pieces start on block boundaries (kPieceElements is a multiple of every
  // blocksize), so quantizing them one by one is quantizing the whole.
  size_t pieces = (n + kPieceElements - 1) / kPieceElements;
  Quantized4bit q =
      Quantized4bit::describe(qt, blocksize, dt, shape, quantStorage);
  q.absmax.resize(numBlocks(n, blocksize));
  std::string weightKey = prefix.str() + "weight";
  const auto *in = static_cast<const unsigned char *>(w);
  size_t elementBytes = dtypeSize(dt);
  auto range = [&](size_t i) {
    size_t begin = i * kPieceElements;
    return std::make_pair(begin, std::min(n, begin + kPieceElements) - begin);
  };
  llvm::Error error = pipeline(
      pieces, packedSize(kPieceElements), pool,
      [&](size_t i, uint8_t *packed) {
        auto [begin, count] = range(i);
        quantize4bit(in + begin * elementBytes, dt, count, qt, blocksize,
                     packed, q.absmax.data() + begin / bs);
      },
      [&](size_t i, const uint8_t *packed) {
        return sink(weightKey, llvm::ArrayRef<uint8_t>(
                                   packed, packedSize(range(i).second)));
      });
  if (error)
    return error;
  if (doubleQuant) {
    q.nested = doubleQuantize(q.absmax.data(), q.absmax.size(), pool);
    if (expectedOffset && llvm::bit_cast<uint32_t>(*expectedOffset) !=
                              llvm::bit_cast<uint32_t>(q.nested->offset))
      return llvm::createStringError("nested offset changed between passes");
  }
  llvm::Expected<std::vector<StateTensor>> tensors =
      linear4bitTensors(prefix, std::move(q));
  if (!tensors)
    return tensors.takeError();
  // The first tensor is the packed weight, already written (its bytes here
  // are the empty `packed` of q).
  for (size_t t = 1; t < tensors->size(); ++t)
    if (llvm::Error e = sink((*tensors)[t].key, (*tensors)[t].bytes))
      return e;
  return llvm::Error::success();
}

llvm::Error bnb::quant::streamLinear8bit(const void *w, DType dt, int64_t rows,
                                         int64_t cols, llvm::StringRef prefix,
                                         llvm::ThreadPoolInterface *pool,
                                         TensorPieceSink sink) {
  size_t rowBytes = static_cast<size_t>(cols);
  size_t rowsPerPiece =
      std::max<size_t>(1, kPieceElements / std::max<size_t>(rowBytes, 1));
  size_t totalRows = static_cast<size_t>(rows);
  size_t pieces = (totalRows + rowsPerPiece - 1) / rowsPerPiece;
  std::vector<SafetensorsTensorDecl> decls =
      linear8bitDecls(prefix, rows, cols);
  std::vector<float> scb(totalRows);
  const auto *in = static_cast<const unsigned char *>(w);
  size_t elementBytes = dtypeSize(dt);
  auto range = [&](size_t i) {
    size_t begin = i * rowsPerPiece;
    return std::make_pair(begin,
                          std::min(totalRows, begin + rowsPerPiece) - begin);
  };
  llvm::Error error = pipeline(
      pieces, rowsPerPiece * rowBytes, pool,
      [&](size_t i, uint8_t *codes) {
        auto [begin, count] = range(i);
        quantizeRowwise(in + begin * rowBytes * elementBytes, dt,
                        static_cast<int64_t>(count), cols, 0.0f,
                        reinterpret_cast<int8_t *>(codes), scb.data() + begin);
      },
      [&](size_t i, const uint8_t *codes) {
        return sink(decls[0].name,
                    llvm::ArrayRef<uint8_t>(codes, range(i).second * rowBytes));
      });
  if (error)
    return error;
  if (llvm::Error e = sink(
          decls[1].name,
          llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(scb.data()),
                                  scb.size() * sizeof(float))))
    return e;
  // weight_format: 0, "row".
  const uint8_t row = 0;
  return sink(decls[2].name, llvm::ArrayRef<uint8_t>(&row, 1));
}
