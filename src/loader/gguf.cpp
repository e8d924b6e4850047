// GGUF reader (versions 2 and 3, little-endian; v2 and v3 share the layout read here).
// Layout (facts of the format):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to general.alignment (default 32) | tensor data (offsets relative to here)
// string = u64 length + bytes (no terminator). Every count and length is checked against the
// bytes left in the file before anything is allocated, so a hostile header cannot make us
// allocate more than the file's own size.
#include <algorithm>
#include <cstring>
#include <limits>

#include "eft/error.h"
#include "loader/loaded_file.h"

namespace eft::loader {

namespace {

enum GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
constexpr uint32_t kNumGgufTypes = 13;
constexpr std::string_view kGgufTypeNames[kNumGgufTypes] = {"uint8", "int8",  "uint16", "int16",  "uint32",
                                                            "int32", "float32", "bool", "string", "array",
                                                            "uint64", "int64", "float64"};
// Size in the file of a scalar of each type; strings take at least 8 (their length).
constexpr size_t kMinSize[kNumGgufTypes] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};

constexpr uint32_t kMaxDims = 4;  // ggml tensors have at most 4 dimensions

class Reader {
 public:
  Reader(const std::string& file, const uint8_t* p, size_t n) : file_(file), p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }

  void need(size_t bytes, const std::string& field) const {
    if (bytes > left())
      fail("{}: truncated: {} needs {} bytes at offset {} but only {} remain (file size {})", file_, field, bytes, pos_,
           left(), n_);
  }
  template <class T>
  T read(const std::string& field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));  // unaligned, little-endian host
    pos_ += sizeof(T);
    return v;
  }
  // `index` >= 0 names an array element: formatted only when there is an error, because string
  // arrays (vocabularies) hold hundreds of thousands of elements.
  std::string read_string(const std::string& field, int64_t index = -1) {
    if (8 > left()) need(8, index < 0 ? field + " length" : fmt::format("{}[{}] length", field, index));
    uint64_t len = read<uint64_t>(field);
    if (len > left())
      fail("{}: {}{} length {} at offset {} runs past the end of the file ({} bytes remain)", file_, field,
           index < 0 ? std::string() : fmt::format("[{}]", index), len, pos_ - 8, left());
    std::string s(reinterpret_cast<const char*>(p_ + pos_), size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  const std::string& file_;
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

// A name as shown in messages: quoted, cut to 200 bytes (names come from the file and may be huge).
std::string shown(const std::string& s) {
  return s.size() <= 200 ? "'" + s + "'" : "'" + s.substr(0, 200) + "...' (" + std::to_string(s.size()) + " bytes)";
}

std::string type_name(uint32_t t) {
  return t < kNumGgufTypes ? std::string(kGgufTypeNames[t]) : fmt::format("unknown ({})", t);
}

bool is_int_type(uint32_t t) { return t <= I32 || t == U64 || t == I64; }

// Reads one integer of GGUF type t widened to int64; uint64 values above INT64_MAX are returned
// through `big` when allowed (scalars), refused otherwise (array elements).
int64_t read_int(Reader& r, uint32_t t, const std::string& field, uint64_t* big) {
  switch (t) {
    case U8: return r.read<uint8_t>(field);
    case I8: return r.read<int8_t>(field);
    case U16: return r.read<uint16_t>(field);
    case I16: return r.read<int16_t>(field);
    case U32: return r.read<uint32_t>(field);
    case I32: return r.read<int32_t>(field);
    case I64: return r.read<int64_t>(field);
    case U64: {
      uint64_t u = r.read<uint64_t>(field);
      if (big) *big = u;
      return int64_t(u);
    }
  }
  fail("internal: read_int of type {}", t);
}

bool read_bool(Reader& r, const std::string& file, const std::string& field) {
  uint8_t b = r.read<uint8_t>(field);
  check(b <= 1, "{}: {} has bool byte {} (expected 0 or 1)", file, field, b);
  return b == 1;
}

MetaValue read_array(Reader& r, const std::string& file, const std::string& field) {
  uint32_t et = r.read<uint32_t>(field + " element type");
  uint64_t count = r.read<uint64_t>(field + " element count");
  check(et < kNumGgufTypes, "{}: {} has unknown element type id {} (valid: 0..12)", file, field, et);
  check(et != ARRAY, "{}: {} is an array of arrays, which eft's metadata cannot hold", file, field);
  // Every element takes at least kMinSize bytes: refuse counts the rest of the file cannot hold
  // before reserving anything.
  if (count > r.left() / kMinSize[et])
    fail("{}: {} claims {} elements of {} (at least {} bytes each) but only {} bytes remain", file, field, count,
         type_name(et), kMinSize[et], r.left());
  size_t n = size_t(count);
  MetaValue::Array arr;
  if (is_int_type(et)) {
    std::vector<int64_t> v(n);
    for (size_t i = 0; i < n; ++i) {
      v[i] = read_int(r, et, field, nullptr);
      if (et == U64 && v[i] < 0) fail("{}: {}[{}] is a uint64 above INT64_MAX, which eft cannot hold", file, field, i);
    }
    arr = std::move(v);
  } else if (et == F32 || et == F64) {
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = et == F32 ? double(r.read<float>(field)) : r.read<double>(field);
    arr = std::move(v);
  } else if (et == BOOL) {
    std::vector<bool> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = read_bool(r, file, field);
    arr = std::move(v);
  } else {  // STRING
    std::vector<std::string> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = r.read_string(field, int64_t(i));
    arr = std::move(v);
  }
  return MetaValue{std::move(arr)};
}

MetaValue read_value(Reader& r, const std::string& file, uint32_t t, const std::string& field) {
  if (is_int_type(t)) {
    uint64_t big = 0;
    int64_t v = read_int(r, t, field, &big);
    if (t == U64) return MetaValue{big};
    return MetaValue{v};
  }
  switch (t) {
    case F32: return MetaValue{double(r.read<float>(field))};
    case F64: return MetaValue{r.read<double>(field)};
    case BOOL: return MetaValue{read_bool(r, file, field)};
    case STRING: return MetaValue{r.read_string(field)};
    case ARRAY: return read_array(r, file, field);
  }
  fail("{}: {} has unknown value type id {} (valid: 0..12)", file, field, t);
}

struct RawTensor {
  TensorInfo info;
  uint64_t offset = 0;  // relative to the data section
};

}  // namespace

std::unique_ptr<LoadedModelFile> parse_gguf(const std::string& file, std::shared_ptr<Mapping> m) {
  const uint8_t* base = m->data();
  const size_t size = m->size();
  Reader r(file, base, size);
  auto out = std::make_unique<LoadedModelFile>(file, "gguf");

  // ---- header ----
  r.need(4, "magic");
  check(looks_like_gguf(base, size), "{}: bad magic {:02x} {:02x} {:02x} {:02x} (expected 'GGUF')", file, base[0],
        base[1], base[2], base[3]);
  r.read<uint32_t>("magic");
  uint32_t version = r.read<uint32_t>("version");
  if (version != 2 && version != 3) {
    // A big-endian file shows its small version number byte-swapped.
    uint32_t swapped = __builtin_bswap32(version);
    if (swapped == 2 || swapped == 3) fail("{}: version field {:#x}: a big-endian GGUF, which eft does not read", file, version);
    fail("{}: unsupported GGUF version {} (eft reads versions 2 and 3)", file, version);
  }
  uint64_t n_tensors = r.read<uint64_t>("tensor_count");
  uint64_t n_kv = r.read<uint64_t>("metadata_kv_count");
  // Smallest possible entries: a kv is 8 (key length) + 4 (type) + 1 (u8 value) bytes; a tensor
  // info is 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes.
  if (n_kv > r.left() / 13)
    fail("{}: metadata_kv_count {} cannot fit: {} bytes remain, room for at most {} entries (truncated file or "
         "corrupt count)", file, n_kv, r.left(), r.left() / 13);
  if (n_tensors > r.left() / 32)
    fail("{}: tensor_count {} cannot fit: {} bytes remain, room for at most {} tensor infos (truncated file or "
         "corrupt count)", file, n_tensors, r.left(), r.left() / 32);

  // ---- metadata ----
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.read_string(fmt::format("metadata[{}] key", i));
    std::string field = "metadata " + shown(key);
    uint32_t t = r.read<uint32_t>(field + " value type");
    check(t < kNumGgufTypes, "{}: {} has unknown value type id {} (valid: 0..12)", file, field, t);
    MetaValue v = read_value(r, file, t, field);
    out->add_meta(file, std::move(key), std::move(v));
  }

  uint64_t alignment = 32;
  if (auto it = out->meta().find("general.alignment"); it != out->meta().end()) {
    const MetaValue& a = it->second;
    if (auto* i = std::get_if<int64_t>(&a.v)) alignment = *i < 0 ? 0 : uint64_t(*i);
    else if (auto* u = std::get_if<uint64_t>(&a.v)) alignment = *u;
    else fail("{}: general.alignment is a {}, expected an integer", file, meta_type_name(a));
    check(alignment > 0 && (alignment & (alignment - 1)) == 0 && alignment <= (1u << 30),
          "{}: general.alignment {} is not a power of two in [1, 2^30]", file, alignment);
  }

  // ---- tensor infos ----
  std::vector<RawTensor> raw;
  raw.reserve(size_t(n_tensors));  // bounded by the file size above
  for (uint64_t i = 0; i < n_tensors; ++i) {
    RawTensor t;
    t.info.name = r.read_string(fmt::format("tensor_infos[{}] name", i));
    std::string field = "tensor " + shown(t.info.name);
    uint32_t n_dims = r.read<uint32_t>(field + " n_dims");
    check(n_dims >= 1 && n_dims <= kMaxDims, "{}: {} has n_dims {} (expected 1..{})", file, field, n_dims, kMaxDims);
    uint64_t ne[kMaxDims];
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = r.read<uint64_t>(fmt::format("{} ne[{}]", field, d));
      int64_t prod;
      if (ne[d] > uint64_t(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, int64_t(ne[d]), &prod))
        fail("{}: {} dimensions overflow: ne[{}] = {} makes the element count exceed 2^63", file, field, d, ne[d]);
      numel = prod;
    }
    uint32_t type = r.read<uint32_t>(field + " type");
    if (!qtype_supported(type))
      fail("{}: {} has type {} (ggml id {}), which eft does not support (supported: f32, f16, bf16, q8_0, q4_0, "
           "q4_1, q5_0, q5_1, q4_K, q5_K, q6_K)", file, field, ggml_type_name(type), type);
    t.info.type = QType(type);
    t.offset = r.read<uint64_t>(field + " offset");
    int64_t bs = qtype_block_elems(t.info.type);
    check(int64_t(ne[0]) % bs == 0, "{}: {} has ne[0] = {}, not a multiple of the {} block size {}", file, field,
          ne[0], qtype_name(t.info.type), bs);
    const uint64_t blocks = ne[0] / uint64_t(bs);
    if (blocks > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(qtype_block_bytes(t.info.type)))
      fail("{}: {} row of {} elements overflows the byte count", file, field, ne[0]);
    size_t row_bytes = qtype_row_bytes(t.info.type, int64_t(ne[0]));
    int64_t rows = ne[0] == 0 ? 0 : numel / int64_t(ne[0]);
    size_t nbytes;
    if (__builtin_mul_overflow(row_bytes, size_t(rows), &nbytes))
      fail("{}: {} byte size overflows ({} rows of {} bytes)", file, field, rows, row_bytes);
    t.info.nbytes = nbytes;
    for (uint32_t d = 0; d < n_dims; ++d) t.info.shape.push_back(int64_t(ne[n_dims - 1 - d]));  // outermost first
    raw.push_back(std::move(t));
  }

  // ---- data section ----
  size_t data_start = r.pos();
  if (data_start % alignment) data_start += alignment - data_start % alignment;
  size_t data_size = data_start <= size ? size - data_start : 0;
  if (data_start > size && !raw.empty())
    fail("{}: truncated: the tensor data section would start at offset {} (alignment {}) past the end ({} bytes)",
         file, data_start, alignment, size);
  for (RawTensor& t : raw) {
    const std::string nm = shown(t.info.name);
    check(t.offset % alignment == 0, "{}: tensor {} offset {} is not a multiple of general.alignment {}", file, nm,
          t.offset, alignment);
    if (t.offset > data_size || t.info.nbytes > data_size - t.offset)
      fail("{}: tensor {} data [offset {}, +{} bytes) runs past the end of the data section ({} bytes from file "
           "offset {}); the file is truncated or the offset is wrong", file, nm, t.offset, t.info.nbytes, data_size,
           data_start);
    t.info.data = base + data_start + t.offset;
  }
  // Overlap: sort by offset, then each tensor must end before the next begins.
  std::vector<const RawTensor*> order;
  order.reserve(raw.size());
  for (const RawTensor& t : raw)
    if (t.info.nbytes > 0) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const RawTensor* a, const RawTensor* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const RawTensor& a = *order[i - 1];
    const RawTensor& b = *order[i];
    if (a.offset + a.info.nbytes > b.offset)
      fail("{}: tensors {} [offset {}, +{}) and {} [offset {}, +{}) overlap", file, shown(a.info.name), a.offset,
           a.info.nbytes, shown(b.info.name), b.offset, b.info.nbytes);
  }
  // general.alignment may be 1: data at odd addresses is read from an aligned copy.
  if (auto c = realign_if_needed(raw, [](RawTensor& t) -> TensorInfo& { return t.info; })) out->keep(std::move(c));
  for (RawTensor& t : raw) out->add_tensor(file, std::move(t.info));
  out->keep(std::move(m));
  return out;
}

}  // namespace eft::loader
