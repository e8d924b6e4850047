// Malformed GGUF and safetensors input: every case raises eft::Error whose message names the
// file and the offending field, and nothing crashes (the fuzz targets in fuzz/ push further).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <unistd.h>

#include "eft/error.h"
#include "eft/model_file.h"

using namespace eft;

namespace {

// Opens `bytes` from memory as "bad.file"; expects an eft::Error whose message contains the file
// name and every one of `parts`.
void expect_error(const std::string& bytes, std::initializer_list<std::string> parts, const char* what) {
  SCOPED_TRACE(what);
  try {
    open_model_file_from_memory(bytes.data(), bytes.size(), "bad.file");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.file"), std::string::npos) << m;
    for (const std::string& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "missing '" << p << "' in: " << m;
  }
}

template <class T>
std::string raw(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
std::string gstr(const std::string& s) { return raw<uint64_t>(s.size()) + s; }

// A small GGUF writer whose every field can be bent.
struct Gguf {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::vector<std::string> kvs;  // each: key + type + value, already encoded
  struct T {
    std::string name;
    std::vector<uint64_t> ne;  // innermost first, as GGUF stores it
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  std::vector<T> tensors;
  int64_t tensor_count = -1, kv_count = -1;  // -1: the real counts
  uint64_t alignment = 32;
  size_t data_bytes = 256;

  void kv(const std::string& key, uint32_t type, const std::string& value) {
    kvs.push_back(gstr(key) + raw<uint32_t>(type) + value);
  }
  std::string build() const {
    std::string s = magic + raw<uint32_t>(version);
    s += raw<uint64_t>(tensor_count >= 0 ? uint64_t(tensor_count) : tensors.size());
    s += raw<uint64_t>(kv_count >= 0 ? uint64_t(kv_count) : kvs.size());
    for (const std::string& k : kvs) s += k;
    for (const T& t : tensors) {
      s += gstr(t.name) + raw<uint32_t>(uint32_t(t.ne.size()));
      for (uint64_t d : t.ne) s += raw<uint64_t>(d);
      s += raw<uint32_t>(t.type) + raw<uint64_t>(t.offset);
    }
    s.resize((s.size() + alignment - 1) / alignment * alignment, '\0');
    s.append(data_bytes, '\0');
    return s;
  }
};

Gguf valid() {
  Gguf g;
  g.kv("general.architecture", 8, gstr("llama"));
  g.tensors.push_back({"a", {8, 2}, 0, 0});     // f32 [2, 8]: 64 bytes
  g.tensors.push_back({"b", {32, 1}, 8, 64});   // q8_0 [1, 32]: 34 bytes
  g.data_bytes = 128;
  return g;
}

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(MalformedGguf, ValidBaseOpens) {
  std::string b = valid().build();
  auto f = open_model_file_from_memory(b.data(), b.size(), "ok.gguf");
  EXPECT_EQ(f->get("b").shape, (std::vector<int64_t>{1, 32}));
}

TEST(MalformedGguf, HeaderFields) {
  Gguf g = valid();
  g.magic = "GGUX";
  // "GGUX" is neither GGUF nor safetensors: the detector says so.
  expect_error(g.build(), {"not a model file"}, "bad magic");
  g = valid();
  g.version = 1;
  expect_error(g.build(), {"version 1"}, "version 1");
  g.version = 0x03000000;
  expect_error(g.build(), {"big-endian"}, "big-endian");
  g = valid();
  g.tensor_count = int64_t(1) << 60;
  expect_error(g.build(), {"tensor_count", "cannot fit"}, "absurd tensor_count");
  g = valid();
  g.kv_count = int64_t(1) << 40;
  expect_error(g.build(), {"metadata_kv_count", "cannot fit"}, "absurd kv count");
  expect_error(std::string("GGUF\x03\0\0", 7), {"truncated", "version"}, "cut in the version");
  expect_error(std::string("GG"), {"too short"}, "two bytes");
  expect_error(std::string(), {"too short"}, "empty");
}

TEST(MalformedGguf, MetadataFields) {
  Gguf g = valid();
  g.kvs.push_back(raw<uint64_t>(1000) + "abc");  // key length past the end
  g.tensors.clear();
  g.data_bytes = 0;
  g.alignment = 1;
  expect_error(g.build(), {"metadata[1] key length", "past the end"}, "key length");
  g = valid();
  g.kv("x.weird", 13, raw<uint32_t>(0));
  expect_error(g.build(), {"x.weird", "unknown value type id 13"}, "unknown value type");
  g = valid();
  g.kv("x.arr", 9, raw<uint32_t>(5) + raw<uint64_t>(uint64_t(1) << 50));
  expect_error(g.build(), {"x.arr", "elements"}, "absurd array count");
  g = valid();
  g.kv("x.nested", 9, raw<uint32_t>(9) + raw<uint64_t>(1) + raw<uint32_t>(5) + raw<uint64_t>(0));
  expect_error(g.build(), {"x.nested", "array of arrays"}, "nested array");
  g = valid();
  g.kv("x.arr_t", 9, raw<uint32_t>(77) + raw<uint64_t>(0));
  expect_error(g.build(), {"x.arr_t", "element type id 77"}, "unknown element type");
  g = valid();
  g.kv("x.s", 8, raw<uint64_t>(uint64_t(1) << 62));
  expect_error(g.build(), {"x.s", "length"}, "string value length");
  g = valid();
  g.kv("x.b", 7, std::string(1, '\x02'));
  expect_error(g.build(), {"x.b", "bool"}, "bool byte 2");
  g = valid();
  g.kv("x.u", 9, raw<uint32_t>(10) + raw<uint64_t>(1) + raw<uint64_t>(~uint64_t(0)));
  expect_error(g.build(), {"x.u", "INT64_MAX"}, "uint64 array element");
  g = valid();
  g.kv("general.architecture", 8, gstr("again"));
  expect_error(g.build(), {"duplicate metadata key", "general.architecture"}, "duplicate key");
  g = valid();
  g.kv("general.alignment", 4, raw<uint32_t>(48));
  expect_error(g.build(), {"general.alignment", "48"}, "alignment not a power of two");
  g = valid();
  g.kv("general.alignment", 8, gstr("32"));
  expect_error(g.build(), {"general.alignment", "string"}, "alignment of the wrong type");
}

TEST(MalformedGguf, TensorFields) {
  Gguf g = valid();
  g.tensors[1].type = 10;
  expect_error(g.build(), {"'b'", "q2_K", "10"}, "unsupported type");
  g.tensors[1].type = 5000;
  expect_error(g.build(), {"'b'", "5000"}, "unknown type id");
  g = valid();
  g.tensors[1].offset = 96;  // 96 + 34 > 128
  expect_error(g.build(), {"'b'", "past the end"}, "offset past the end");
  g.tensors[1].offset = uint64_t(1) << 63;
  expect_error(g.build(), {"'b'", "past the end"}, "huge offset");
  g = valid();
  g.tensors[1].offset = 40;
  expect_error(g.build(), {"'b'", "offset 40", "alignment"}, "misaligned offset");
  g = valid();
  g.tensors[1].offset = 32;
  expect_error(g.build(), {"'a'", "'b'", "overlap"}, "overlapping tensors");
  g = valid();
  g.tensors[1].name = "a";
  expect_error(g.build(), {"duplicate tensor name", "'a'"}, "duplicate tensor");
  g = valid();
  g.tensors[0].ne = {uint64_t(1) << 40, uint64_t(1) << 40};
  expect_error(g.build(), {"'a'", "overflow"}, "dimension product overflow");
  g.tensors[0].ne = {~uint64_t(0)};
  expect_error(g.build(), {"'a'", "overflow"}, "dimension above int64");
  g.tensors[0].ne = {uint64_t(1) << 61, 1};  // elements fit int64, bytes (x4) do not fit the file
  expect_error(g.build(), {"'a'"}, "byte size beyond the file");
  g = valid();
  g.tensors[0].ne = {};
  expect_error(g.build(), {"'a'", "n_dims 0"}, "no dims");
  g.tensors[0].ne = {1, 1, 1, 1, 1};
  expect_error(g.build(), {"'a'", "n_dims 5"}, "5 dims");
  g = valid();
  g.tensors[1].ne = {33, 1};
  expect_error(g.build(), {"'b'", "ne[0] = 33", "block size"}, "row not a multiple of the block");
  g = valid();
  g.data_bytes = 0;
  expect_error(g.build(), {"'a'", "past the end"}, "no data section");

}

TEST(MalformedGguf, OddAlignmentIsReadFromAnAlignedCopy) {
  Gguf g = valid();
  g.kv("general.alignment", 4, raw<uint32_t>(1));
  g.alignment = 1;
  g.tensors[1].offset = 65;  // q8_0 blocks hold 16-bit scales: odd addresses are not read in place
  std::string b = g.build();
  b[b.size() - 128 + 65] = 0x00;  // d = 1.0 (f16 0x3c00), q[0] = 3
  b[b.size() - 128 + 66] = 0x3c;
  b[b.size() - 128 + 67] = 3;
  auto f = open_model_file_from_memory(b.data(), b.size(), "odd.gguf");
  const TensorInfo& t = f->get("b");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 2, 0u);
  float y[32];
  dequantize_row(t.type, t.data, y, 32);
  EXPECT_EQ(y[0], 3.0f);
}

TEST(MalformedGguf, EveryTruncationOfAValidFileFailsCleanly) {
  const std::string full = read_file(std::string(EFT_FIXTURES_DIR) + "/loader/tiny.gguf");
  ASSERT_GT(full.size(), 1000u);
  auto f = open_model_file_from_memory(full.data(), full.size(), "full");
  size_t end = 0;  // where the last tensor's data ends: shorter files must fail
  for (const TensorInfo& t : f->tensors())
    end = std::max(end, size_t(t.data - reinterpret_cast<const uint8_t*>(full.data())) + t.nbytes);
  for (size_t n = 0; n < full.size(); ++n) {
    std::string cut = full.substr(0, n);  // its own allocation, so ASan sees reads past n
    if (n < end) {
      EXPECT_THROW(open_model_file_from_memory(cut.data(), cut.size(), "cut"), Error) << n;
    } else {
      EXPECT_NO_THROW(open_model_file_from_memory(cut.data(), cut.size(), "cut")) << n;
    }
  }
}

// ---- safetensors ----

namespace {
std::string st(const std::string& header, size_t data_bytes) {
  return raw<uint64_t>(header.size()) + header + std::string(data_bytes, '\0');
}
}  // namespace

TEST(MalformedSafetensors, HeaderAndEntries) {
  expect_error(raw<uint64_t>(1000) + "{\"a\":1}", {"header length 1000", "past the end"}, "header past the end");
  expect_error(raw<uint64_t>(5) + "{\"a\":", {"not valid JSON"}, "bad JSON");
  expect_error(st("{\"a\": [1, 2]}", 0), {"'a'", "not an object"}, "entry not an object");
  expect_error(st("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8), {"'a'", "I64"},
               "unsupported dtype");
  expect_error(st("{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8), {"'a'", "Q9", "unknown"},
               "unknown dtype");
  expect_error(st("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), {"'a'", "'dtype'"}, "missing dtype");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), {"'a'", "'shape'"}, "missing shape");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
               {"'a'", "data_offsets", "needs 8"}, "size != numel * dtype size");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), {"'a'", "past the end"},
               "offsets past the end");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), {"'a'", "shape[0]"},
               "negative dim");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8), {"'a'", "shape[0]"},
               "fractional dim");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8), {"'a'", "end before"},
               "end before begin");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8), {"'a'", "data_offsets"},
               "one offset");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8),
               {"'a'", "overflow"}, "shape overflow");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
               {"'a'", "'b'", "overlap"}, "overlap");
  expect_error(st("{\"__metadata__\":{\"k\":1}}", 0), {"__metadata__", "'k'"}, "metadata not a string");
  expect_error(st(std::string(100, '[') + std::string(100, ']'), 0), {"nested deeper"}, "deep nesting");
  expect_error(st("[1]", 0), {"not a JSON object"}, "header an array");
  expect_error(st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
               {"'a'"}, "duplicate names in JSON");
}

TEST(MalformedSafetensors, UnpaddedHeaderIsReadFromAnAlignedCopy) {
  std::string h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  if ((8 + h.size()) % 4 == 0) h += " ";  // make the data start misaligned for f32
  std::string b = st(h, 0);
  const float v[2] = {1.5f, -2.0f};
  b.append(reinterpret_cast<const char*>(v), 8);
  auto f = open_model_file_from_memory(b.data(), b.size(), "odd.safetensors");
  const TensorInfo& t = f->get("a");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u);
  EXPECT_EQ(reinterpret_cast<const float*>(t.data)[0], 1.5f);
  EXPECT_EQ(reinterpret_cast<const float*>(t.data)[1], -2.0f);
}

TEST(MalformedSafetensors, EveryTruncationFailsCleanly) {
  const std::string full = read_file(std::string(EFT_FIXTURES_DIR) + "/loader/tiny.safetensors");
  ASSERT_GT(full.size(), 100u);
  for (size_t n = 0; n < full.size(); ++n) {
    std::string cut = full.substr(0, n);
    EXPECT_THROW(open_model_file_from_memory(cut.data(), cut.size(), "cut"), Error) << n;
  }
}

TEST(MalformedSafetensors, ShardIndexProblems) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("eft_loader_idx_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
  };
  auto expect = [&](std::initializer_list<std::string> parts, const char* what) {
    SCOPED_TRACE(what);
    try {
      open_model_file((dir / "model.safetensors.index.json").string());
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  write("s1.safetensors", st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
  write("s2.safetensors", st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
  write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
  expect({"model.safetensors.index.json", "plain file name"}, "path traversal");
  write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"}}");
  expect({"'b'", "does not hold"}, "tensor missing from its shard");
  write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\"}}");
  expect({"'a'", "s2.safetensors"}, "tensor in two shards");
  write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"missing.safetensors\"}}");
  expect({"missing.safetensors", "cannot open"}, "missing shard");
  write("model.safetensors.index.json", "{\"metadata\":{}}");
  expect({"weight_map"}, "no weight_map");
  write("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"s1.safetensors\"}}");
  write("config.json", "{\"hidden_size\": ");
  expect({"config.json", "not valid JSON"}, "broken config.json");
  write("config.json", "{\"hidden_size\": 8}");
  auto f = open_model_file(dir.string());
  EXPECT_EQ(f->get_int("hf.hidden_size"), 8);
  fs::remove_all(dir);
}
