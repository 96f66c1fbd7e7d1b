//===- SafetensorsTest.cpp - safetensors reader and writer ----------------===//
//
// Linked against the static LLVMSupport archive (BnbSupportStandalone), as
// bnb-run links these objects. Byte-exact expectations are the reference
// implementation's own serialization tests; every malformed header is built
// here byte by byte.
//
//===----------------------------------------------------------------------===//

#include "bnb/Support/Safetensors.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

using namespace bnb;

namespace {

/// A file image: 8-byte length, `json`, then `data`.
std::string image(const std::string &json, const std::string &data = "") {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + data;
}

llvm::Expected<SafetensorsFile> parse(const std::string &bytes) {
  return SafetensorsFile::fromBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "t.safetensors"),
      "t.safetensors");
}

std::string parseError(const std::string &bytes) {
  llvm::Expected<SafetensorsFile> file = parse(bytes);
  if (file)
    return "<no error>";
  return llvm::toString(file.takeError());
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ScratchDir {
public:
  ScratchDir() {
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("bnb-safetensors", path));
  }
  ~ScratchDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
  /// Names of the entries of the directory.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(path, ec), end; it != end && !ec;
         it.increment(ec))
      names.push_back(llvm::sys::path::filename(it->path()).str());
    return names;
  }
  llvm::SmallString<128> path;
};

std::string f32Bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values)
    out.append(reinterpret_cast<const char *>(&v), 4);
  return out;
}

std::string writeFile(const ScratchDir &dir, const std::string &name,
                      const std::vector<SafetensorsTensorDecl> &decls,
                      const std::vector<std::string> &data,
                      const std::map<std::string, std::string> &metadata = {}) {
  std::string path = dir.file(name);
  auto writer = SafetensorsWriter::create(path, decls, metadata);
  EXPECT_TRUE(static_cast<bool>(writer));
  if (!writer)
    return llvm::toString(writer.takeError());
  for (size_t i = 0; i < decls.size(); ++i) {
    llvm::ArrayRef<uint8_t> bytes(
        reinterpret_cast<const uint8_t *>(data[i].data()), data[i].size());
    EXPECT_FALSE(static_cast<bool>((*writer)->write(decls[i].name, bytes)));
  }
  EXPECT_FALSE(static_cast<bool>((*writer)->commit()));
  return path;
}

TEST(SafetensorsTest, WriterMatchesReferenceSerialization) {
  ScratchDir dir;
  std::string path =
      writeFile(dir, "a.safetensors", {{"attn.0", DType::F32, {1, 2, 3}}},
                {f32Bytes({0, 1, 2, 3, 4, 5})});
  const unsigned char expected[] = {
      64,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110,
      46,  48,  34,  58,  123, 34,  100, 116, 121, 112, 101, 34,  58,  34,
      70,  51,  50,  34,  44,  34,  115, 104, 97,  112, 101, 34,  58,  91,
      49,  44,  50,  44,  51,  93,  44,  34,  100, 97,  116, 97,  95,  111,
      102, 102, 115, 101, 116, 115, 34,  58,  91,  48,  44,  50,  52,  93,
      125, 125, 0,   0,   0,   0,   0,   0,   128, 63,  0,   0,   0,   64,
      0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};
  EXPECT_EQ(
      readFile(path),
      std::string(reinterpret_cast<const char *>(expected), sizeof(expected)));

  // The same with a 5-character name: the header is padded with spaces.
  path = writeFile(dir, "b.safetensors", {{"attn0", DType::F32, {1, 1, 2, 3}}},
                   {f32Bytes({0, 1, 2, 3, 4, 5})});
  std::string header = readFile(path).substr(8, 72);
  EXPECT_EQ(header, "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],"
                    "\"data_offsets\":[0,24]}}       ");

  path = writeFile(dir, "empty.safetensors", {}, {});
  EXPECT_EQ(readFile(path), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  path = writeFile(dir, "meta.safetensors", {}, {}, {{"framework", "pt"}});
  EXPECT_EQ(readFile(path),
            image("{\"__metadata__\":{\"framework\":\"pt\"}}     "));
}

TEST(SafetensorsTest, WriterOrdersByAlignmentThenName) {
  ScratchDir dir;
  std::vector<SafetensorsTensorDecl> decls = {
      {"b", DType::U8, {3}},     {"a", DType::F16, {2}},
      {"c", DType::I64, {1}},    {"d", DType::F32, {}},
      {"a8", DType::I8, {0, 4}}, {"z", DType::Bool, {1}},
      {"e", DType::BF16, {1}},   {"q\"\n", DType::F64, {1}}};
  std::vector<std::string> data = {"xyz",
                                   std::string(4, 'h'),
                                   std::string(8, 'l'),
                                   std::string(4, 'f'),
                                   "",
                                   std::string(1, '\1'),
                                   "bb",
                                   std::string(8, 'd')};
  std::string path = writeFile(dir, "order.safetensors", decls, data,
                               {{"z", "last"}, {"format", "pt"}});
  std::string bytes = readFile(path);
  EXPECT_EQ(
      bytes.substr(8, bytes.find("}}") + 2 - 8),
      "{\"__metadata__\":{\"format\":\"pt\",\"z\":\"last\"},"
      "\"c\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
      "\"q\\\"\\n\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]}"
      ",\"d\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]},"
      "\"e\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[20,22]},"
      "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[22,26]},"
      "\"a8\":{\"dtype\":\"I8\",\"shape\":[0,4],\"data_offsets\":[26,26]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[26,29]},"
      "\"z\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[29,30]}}");
  EXPECT_EQ(bytes.size() % 8, 30u % 8);
  EXPECT_EQ(bytes.substr(bytes.size() - 30),
            std::string(8, 'l') + std::string(8, 'd') + std::string(4, 'f') +
                "bb" + std::string(4, 'h') + "xyz\1");

  llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(static_cast<bool>(file)) << llvm::toString(file.takeError());
  ASSERT_EQ(file->tensors().size(), 8u);
  EXPECT_EQ(file->tensors()[0].name, "c");
  EXPECT_EQ(file->tensors()[1].name, "q\"\n");
  const SafetensorsTensor *b = file->lookup("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::U8);
  llvm::ArrayRef<uint8_t> bBytes = file->bytes(*b);
  EXPECT_EQ(std::string(bBytes.begin(), bBytes.end()), "xyz");
  const SafetensorsTensor *d = file->lookup("d");
  EXPECT_EQ(d->numElements(), 1u);
  EXPECT_TRUE(d->shape.empty());
  EXPECT_EQ(file->lookup("a8")->numBytes(), 0u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->lookup("missing"), nullptr);
  for (const SafetensorsTensor &t : file->tensors())
    EXPECT_TRUE(file->isAligned(t)) << t.name;
  file->releaseMappedPages();
  EXPECT_EQ(file->copyAs<int64_t>(*file->lookup("c")).size(), 1u);
}

TEST(SafetensorsTest, ReaderHandlesUnalignedTensors) {
  // Another writer's order: a 1-byte tensor first puts the F16 data at an
  // odd offset.
  std::string json = "{\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                     "[0,1]},\"h\":{\"dtype\":\"F16\",\"shape\":[2],"
                     "\"data_offsets\":[1,5]}}";
  llvm::Expected<SafetensorsFile> file =
      parse(image(json, std::string("\x07\x00\x3c\x00\xbc", 5)));
  ASSERT_TRUE(static_cast<bool>(file)) << llvm::toString(file.takeError());
  const SafetensorsTensor *h = file->lookup("h");
  std::vector<uint16_t> values = file->copyAs<uint16_t>(*h);
  EXPECT_EQ(values, (std::vector<uint16_t>{0x3c00, 0xbc00}));
  EXPECT_EQ(loadAsFloat(file->bytes(*h).data(), DType::F16, 1), -1.0f);
}

TEST(SafetensorsTest, ReaderRejectsMalformedHeaders) {
  const std::string entry =
      "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  const std::string data8(8, '\0');
  EXPECT_EQ(parseError(image("{" + entry + "}", data8)), "<no error>");

  EXPECT_EQ(parseError(std::string("\x01\x02\x03", 3)),
            "'t.safetensors': 3 bytes is too short for the 8-byte header "
            "length");
  std::string huge = image("{}");
  huge[3] = 0x10; // 0x10000002 bytes
  EXPECT_EQ(parseError(huge), "'t.safetensors': header length 268435458 "
                              "exceeds the 100000000-byte limit");
  std::string big = image("{}");
  big[0] = 100;
  EXPECT_EQ(parseError(big), "'t.safetensors': header length 100 exceeds the "
                             "2 bytes after the length field");
  EXPECT_EQ(parseError(image("{\"\xff\":1}")),
            "'t.safetensors': header is not valid UTF-8 (byte 2)");
  EXPECT_EQ(parseError(image("{\"w\":"))
                .rfind("'t.safetensors': header is "
                       "not valid JSON",
                       0),
            0u);
  EXPECT_EQ(parseError(image("[]      ")),
            "'t.safetensors': header is not a JSON object");
  EXPECT_EQ(parseError(image("{" + entry + "," + entry + "}", data8)),
            "'t.safetensors': header has the key 'w' twice");
  EXPECT_EQ(parseError(image("{\"w\":[]}")),
            "'t.safetensors': tensor 'w' is not a JSON object");
  EXPECT_EQ(parseError(
                image("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", data8)),
            "'t.safetensors': tensor 'w' has no 'dtype'");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"
                             "}",
                             data8)),
            "'t.safetensors': tensor 'w' has no 'shape'");
  EXPECT_EQ(
      parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", data8)),
      "'t.safetensors': tensor 'w' has no 'data_offsets'");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],"
                             "\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w' has an unsupported dtype 'F8_E4M3'");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":7,\"shape\":[8],"
                             "\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w': 'dtype' is not a string");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[0,8],\"extra\":1}}",
                             data8)),
            "'t.safetensors': tensor 'w' has an unknown field 'extra'");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],"
                             "\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w': 'shape' holds something other than "
            "a non-negative integer");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":2,"
                             "\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w': 'shape' is not an array");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,"
                             "4294967296],\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w': the size of shape [4294967296, "
            "4294967296] overflows 64 bits");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[0]}}",
                             data8)),
            "'t.safetensors': tensor 'w': 'data_offsets' is not a pair of "
            "non-negative integers");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],"
                             "\"data_offsets\":[8,0]}}",
                             data8)),
            "'t.safetensors': tensor 'w': data_offsets [8, 0] end before they "
            "begin");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],"
                             "\"data_offsets\":[0,8]}}",
                             data8)),
            "'t.safetensors': tensor 'w': data_offsets [0, 8] hold 8 bytes "
            "but 3 of F32 need 12");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[4,12]}}",
                             data8)),
            "'t.safetensors': tensor 'w': data_offsets [4, 12] are out of "
            "bounds of the 8-byte data section");
  EXPECT_EQ(parseError(image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                             "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\","
                             "\"shape\":[4],\"data_offsets\":[4,8]}}",
                             data8)),
            "'t.safetensors': tensors 'a' and 'b' overlap in the data section");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                             "\"data_offsets\":[4,8]}}",
                             data8)),
            "'t.safetensors': bytes [0, 4) of the data section before tensor "
            "'w' belong to no tensor");
  EXPECT_EQ(parseError(image("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],"
                             "\"data_offsets\":[0,4]}}",
                             data8)),
            "'t.safetensors': bytes [4, 8) at the end of the data section "
            "belong to no tensor");
  EXPECT_EQ(parseError(image("{\"__metadata__\":[]}")),
            "'t.safetensors': '__metadata__' is not a JSON object");
  EXPECT_EQ(parseError(image("{\"__metadata__\":{\"format\":1}}")),
            "'t.safetensors': '__metadata__' entry 'format' is not a string");
}

TEST(SafetensorsTest, OpenReportsMissingFiles) {
  llvm::Expected<SafetensorsFile> file =
      SafetensorsFile::open("/nonexistent/x.safetensors");
  ASSERT_FALSE(static_cast<bool>(file));
  EXPECT_EQ(llvm::toString(file.takeError()),
            "'/nonexistent/x.safetensors': cannot open: No such file or "
            "directory");
}

TEST(SafetensorsTest, WriterIsAtomic) {
  ScratchDir dir;
  std::string path = dir.file("out.safetensors");
  std::vector<SafetensorsTensorDecl> decls = {{"a", DType::F32, {2}},
                                              {"b", DType::U8, {3}}};
  {
    auto writer = SafetensorsWriter::create(path, decls);
    ASSERT_TRUE(static_cast<bool>(writer));
    EXPECT_EQ(dir.entries().size(), 1u); // the temporary
    EXPECT_FALSE(llvm::sys::fs::exists(path));
    // Destroyed without commit: nothing remains.
  }
  EXPECT_TRUE(dir.entries().empty());

  // An existing file is untouched by a failed write.
  { std::ofstream(path) << "old"; }
  {
    auto writer = SafetensorsWriter::create(path, decls);
    ASSERT_TRUE(static_cast<bool>(writer));
    uint8_t bytes[8] = {};
    EXPECT_FALSE(static_cast<bool>((*writer)->write("a", bytes)));
    llvm::Error err = (*writer)->commit();
    ASSERT_TRUE(static_cast<bool>(err));
    EXPECT_EQ(llvm::toString(std::move(err)),
              "'" + path + "': tensor 'b' got 0 of its 3 bytes");
    err = (*writer)->write("c", llvm::ArrayRef<uint8_t>(bytes, 1));
    EXPECT_EQ(llvm::toString(std::move(err)),
              "'" + path + "': tensor 'c' was not declared");
    err = (*writer)->write("b", llvm::ArrayRef<uint8_t>(bytes, 4));
    EXPECT_EQ(llvm::toString(std::move(err)),
              "'" + path + "': tensor 'b' takes 3 bytes, got 4");
    err = (*writer)->write("a", llvm::ArrayRef<uint8_t>(bytes, 8));
    EXPECT_EQ(llvm::toString(std::move(err)),
              "'" + path + "': tensor 'a' takes 8 bytes, got 16");
  }
  EXPECT_EQ(readFile(path), "old");
  EXPECT_EQ(dir.entries().size(), 1u);

  // A complete write replaces it; pieces of a tensor may come separately.
  {
    auto writer = SafetensorsWriter::create(path, decls, {{"format", "pt"}});
    ASSERT_TRUE(static_cast<bool>(writer));
    const uint8_t b[3] = {1, 2, 3};
    EXPECT_FALSE(static_cast<bool>((*writer)->write("b", b)));
    std::string a = f32Bytes({1.5f, -2.0f});
    const uint8_t *ap = reinterpret_cast<const uint8_t *>(a.data());
    EXPECT_FALSE(static_cast<bool>(
        (*writer)->writePart("a", llvm::ArrayRef<uint8_t>(ap, 3))));
    EXPECT_FALSE(static_cast<bool>(
        (*writer)->writePart("a", llvm::ArrayRef<uint8_t>(ap + 3, 5))));
    EXPECT_FALSE(static_cast<bool>((*writer)->commit()));
    EXPECT_EQ((*writer)->fileSize(), readFile(path).size());
  }
  EXPECT_EQ(dir.entries().size(), 1u);
  llvm::Expected<SafetensorsFile> file = SafetensorsFile::open(path);
  ASSERT_TRUE(static_cast<bool>(file)) << llvm::toString(file.takeError());
  EXPECT_EQ(file->copyAs<float>(*file->lookup("a")),
            (std::vector<float>{1.5f, -2.0f}));
}

TEST(SafetensorsTest, WriterRejectsBadDeclarations) {
  ScratchDir dir;
  std::string path = dir.file("x.safetensors");
  auto error = [&](std::vector<SafetensorsTensorDecl> decls) {
    auto writer = SafetensorsWriter::create(path, decls);
    return writer ? std::string("<no error>")
                  : llvm::toString(writer.takeError());
  };
  EXPECT_EQ(error({{"a", DType::U8, {1}}, {"a", DType::U8, {2}}}),
            "'" + path + "': tensor 'a' declared twice");
  EXPECT_EQ(error({{"a", DType::U8, {-1}}}),
            "'" + path + "': tensor 'a' has a negative dimension");
  EXPECT_EQ(error({{"__metadata__", DType::U8, {1}}}),
            "'" + path + "': '__metadata__' is not a valid tensor name");
  EXPECT_EQ(error({{"a", DType::F64, {INT64_MAX, 4}}}),
            "'" + path + "': tensor 'a' is too large");
  EXPECT_TRUE(dir.entries().empty());
  auto writer = SafetensorsWriter::create("/nonexistent/dir/x.safetensors",
                                          {{"a", DType::U8, {1}}});
  ASSERT_FALSE(static_cast<bool>(writer));
  EXPECT_EQ(
      llvm::toString(writer.takeError())
          .rfind("'/nonexistent/dir/x.safetensors': cannot create a temporary "
                 "file beside it: ",
                 0),
      0u);
}

} // namespace
