//===- WeightWriter.cpp - The weights file of bnb-quantize-weights --------===//
//
// Streams the output of bnb-quantize-weights: every tensor is declared up
// front (the header needs all sizes), then copied tensors are written from
// the memory-mapped input and each layer's float weight is quantized in
// pieces on the pool while this thread writes them, releasing the mapped
// pages after each tensor so that the resident set stays about one tensor.
//
//===----------------------------------------------------------------------===//

#include "bnb/Dialect/Bnb/Transforms/WeightWriter.h"

#include "bnb/Quant/Blockwise.h"
#include "bnb/Quant/BnbStateDict.h"
#include "bnb/Quant/StreamingQuantize.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ThreadPool.h"

#include <cstring>

using namespace mlir::bnb;
namespace q = ::bnb::quant;

char LayerWriteError::ID = 0;

void LayerWriteError::log(llvm::raw_ostream &os) const { os << message; }

std::error_code LayerWriteError::convertToErrorCode() const {
  return llvm::inconvertibleErrorCode();
}

std::vector<uint8_t> mlir::bnb::transposeBytes(llvm::ArrayRef<uint8_t> in,
                                               int64_t rows, int64_t cols,
                                               size_t elemBytes) {
  std::vector<uint8_t> out(in.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      std::memcpy(out.data() + (c * rows + r) * elemBytes,
                  in.data() + (r * cols + c) * elemBytes, elemBytes);
  return out;
}

WeightWriter::WeightWriter(unsigned numThreads)
    : pool(std::make_unique<llvm::DefaultThreadPool>(
          llvm::hardware_concurrency(numThreads))) {}

WeightWriter::~WeightWriter() = default;

llvm::Error WeightWriter::openInput(llvm::StringRef path) {
  inputPath = path.str();
  llvm::Expected<::bnb::ShardedSafetensors> file =
      ::bnb::ShardedSafetensors::open(inputPath);
  if (!file)
    return file.takeError();
  input.emplace(std::move(*file));
  return llvm::Error::success();
}

const ::bnb::SafetensorsTensor *
WeightWriter::lookup(llvm::StringRef name) const {
  return input->lookup(name);
}

float WeightWriter::computeNestedOffset(const QuantizedLayer &layer) {
  WeightBytes bytes;
  bytes.view = input->bytes(*input->lookup(layer.weightKey));
  if (layer.conv1d) {
    bytes.storage =
        transposeBytes(bytes.view, layer.weightShape[0], layer.weightShape[1],
                       ::bnb::dtypeSize(layer.dtype));
    bytes.view = bytes.storage;
  }
  int64_t n = layer.outFeatures * layer.inFeatures;
  std::vector<float> absmax(q::numBlocks(n, layer.blocksize));
  q::computeAbsmax(bytes.view.data(), layer.dtype, n, layer.blocksize,
                   absmax.data(), pool.get());
  float offset = q::absmaxMean(absmax.data(), absmax.size());
  // Streaming: the resident set holds one weight at a time, not the whole
  // mapped checkpoint.
  input->releaseMappedPages();
  return offset;
}

llvm::Error WeightWriter::declareLayers(llvm::StringRef requestedOutput,
                                        std::vector<QuantizedLayer> planned) {
  if (requestedOutput.empty()) {
    llvm::SmallString<256> path(inputPath);
    if (llvm::sys::path::extension(path) == ".safetensors")
      llvm::sys::path::replace_extension(path, "");
    path += ".bnb.safetensors";
    outputPath = path.str().str();
  } else {
    outputPath = requestedOutput.str();
  }
  if (llvm::sys::fs::equivalent(outputPath, inputPath))
    return llvm::createStringError("bnb-quantize-weights would overwrite its "
                                   "input '" +
                                   inputPath + "'");

  layers = std::move(planned);
  for (auto [index, layer] : llvm::enumerate(layers)) {
    if (layer.is4bit) {
      llvm::Expected<std::vector<::bnb::SafetensorsTensorDecl>> layerDecls =
          q::linear4bitDecls(layer.prefix, layer.quantType, layer.blocksize,
                             layer.dtype, {layer.outFeatures, layer.inFeatures},
                             layer.storage, layer.nested, layer.offset);
      if (!layerDecls)
        return llvm::make_error<LayerWriteError>(
            index, llvm::toString(layerDecls.takeError()));
      llvm::append_range(decls, *layerDecls);
    } else {
      llvm::append_range(decls,
                         q::linear8bitDecls(layer.prefix, layer.outFeatures,
                                            layer.inFeatures));
    }
  }
  for (const ::bnb::SafetensorsTensorDecl &decl : decls)
    declared.insert(decl.name);
  return llvm::Error::success();
}

bool WeightWriter::declareCopy(llvm::StringRef name) {
  const ::bnb::SafetensorsTensor *tensor = input->lookup(name);
  if (!declared.insert(name).second)
    return false;
  decls.push_back({tensor->name, tensor->dtype, tensor->shape});
  copies.push_back(tensor);
  return true;
}

void WeightWriter::declareCompanion(llvm::StringRef name) {
  const ::bnb::SafetensorsTensor *tensor = input->lookup(name);
  if (tensor && declared.insert(tensor->name).second) {
    decls.push_back({tensor->name, tensor->dtype, tensor->shape});
    companions.push_back(tensor);
  }
}

llvm::Expected<WeightBytes>
WeightWriter::readForWrite(const QuantizedLayer &layer) {
  WeightBytes result;
  const ::bnb::SafetensorsTensor *tensor = input->lookup(layer.weightKey);
  if (!tensor)
    return llvm::createStringError("weights file '" + inputPath +
                                   "' has no tensor '" + layer.weightKey + "'");
  result.view = input->bytes(*tensor);
  if (layer.conv1d) {
    result.storage =
        transposeBytes(result.view, layer.inFeatures, layer.outFeatures,
                       ::bnb::dtypeSize(layer.dtype));
    result.view = result.storage;
  }
  return result;
}

llvm::Error WeightWriter::write() {
  llvm::Expected<std::unique_ptr<::bnb::SafetensorsWriter>> writer =
      ::bnb::SafetensorsWriter::create(outputPath, decls, {{"format", "pt"}});
  if (!writer)
    return writer.takeError();
  auto checkCancelled = [&]() -> llvm::Error {
    if (cancelled.load(std::memory_order_relaxed))
      return llvm::createStringError("writing '" + outputPath +
                                     "' was cancelled");
    return llvm::Error::success();
  };
  for (const ::bnb::SafetensorsTensor *tensor : copies) {
    if (llvm::Error error = checkCancelled())
      return error;
    if (llvm::Error error =
            (*writer)->write(tensor->name, input->bytes(*tensor)))
      return error;
    input->releaseMappedPages();
  }
  for (const ::bnb::SafetensorsTensor *tensor : companions)
    if (llvm::Error error =
            (*writer)->write(tensor->name, input->bytes(*tensor)))
      return error;
  for (auto [index, layer] : llvm::enumerate(layers)) {
    llvm::Expected<WeightBytes> bytes = readForWrite(layer);
    if (!bytes)
      return bytes.takeError();
    // Quantized in pieces on the pool while this thread writes them.
    auto sink = [&](llvm::StringRef key,
                    llvm::ArrayRef<uint8_t> piece) -> llvm::Error {
      if (llvm::Error error = checkCancelled())
        return error;
      return (*writer)->writePart(key, piece);
    };
    llvm::Error error =
        layer.is4bit
            ? q::streamLinear4bit(bytes->view.data(), layer.dtype,
                                  {layer.outFeatures, layer.inFeatures},
                                  layer.quantType, layer.blocksize,
                                  layer.nested, layer.storage, layer.offset,
                                  layer.prefix, pool.get(), sink)
            : q::streamLinear8bit(bytes->view.data(), layer.dtype,
                                  layer.outFeatures, layer.inFeatures,
                                  layer.prefix, pool.get(), sink);
    if (error)
      return llvm::make_error<LayerWriteError>(
          index, llvm::toString(std::move(error)));
    input->releaseMappedPages();
  }
  return (*writer)->commit();
}
