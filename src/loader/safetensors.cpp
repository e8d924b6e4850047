// Safetensors reader: one file, a sharded index (model.safetensors.index.json), or a directory,
// with config.json beside it exposed as "hf.*" metadata.
// File layout (facts of the format): u64 little-endian header length N | N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}
// | data, offsets relative to the byte after the header.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "eft/error.h"
#include "loader/loaded_file.h"

namespace eft::loader {

namespace {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// The reference implementation refuses headers above 100 MB; a bigger one is a corrupt length.
constexpr uint64_t kMaxHeader = 100ull << 20;
constexpr int kMaxJsonDepth = 64;

// Refuses JSON nested deeper than kMaxJsonDepth before handing it to the parser, so a hostile
// "[[[[..." cannot exhaust the stack anywhere (parse, destruction, our own walks).
void check_depth(const std::string& file, std::string_view text) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (char c : text) {
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) fail("{}: JSON nested deeper than {} levels", file, kMaxJsonDepth);
    } else if (c == '}' || c == ']') --depth;
  }
}

// Parses JSON text, refusing duplicate keys in any object (nlohmann would keep one silently;
// two entries for one tensor name must be an error, not a coin toss).
ojson parse_json(const std::string& file, std::string_view text, const std::string& what) {
  check_depth(file, text);
  std::vector<std::vector<std::string>> keys;  // keys seen, per open object
  auto cb = [&](int, nlohmann::detail::parse_event_t ev, ojson& parsed) {
    using E = nlohmann::detail::parse_event_t;
    if (ev == E::object_start) keys.emplace_back();
    else if (ev == E::object_end && !keys.empty()) keys.pop_back();
    else if (ev == E::key && !keys.empty()) {
      const std::string& k = parsed.get_ref<const std::string&>();
      auto& seen = keys.back();
      if (std::find(seen.begin(), seen.end(), k) != seen.end())
        fail("{}: {} has the key '{}' twice in one object", file, what, k.substr(0, 200));
      seen.push_back(k);
    }
    return true;
  };
  ojson j = ojson::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  check(!j.is_discarded(), "{}: {} is not valid JSON", file, what);
  return j;
}

// Safetensors dtype -> QType; refuses the others by name.
QType st_dtype(const std::string& file, const std::string& tensor, const ojson& d) {
  check(d.is_string(), "{}: tensor '{}' field 'dtype' is not a string", file, tensor);
  const std::string& s = d.get_ref<const std::string&>();
  if (s == "F32") return QType::F32;
  if (s == "F16") return QType::F16;
  if (s == "BF16") return QType::BF16;
  static const char* known[] = {"F64", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL",
                                "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};
  bool k = std::find(std::begin(known), std::end(known), s) != std::end(known);
  fail("{}: tensor '{}' has dtype '{}'{}, which eft does not load (supported: F32, F16, BF16)", file, tensor,
       s.substr(0, 32), k ? "" : " (unknown to the safetensors format)");
}

uint64_t json_u64(const std::string& file, const std::string& field, const ojson& v) {
  check(v.is_number_unsigned(), "{}: {} is {}, expected a non-negative integer", file, field,
        v.dump().substr(0, 40));
  return v.get<uint64_t>();
}

struct RawTensor {
  TensorInfo info;
  uint64_t begin = 0;
};

}  // namespace

std::unique_ptr<LoadedModelFile> parse_safetensors(const std::string& file, std::shared_ptr<Mapping> m) {
  const uint8_t* base = m->data();
  const size_t size = m->size();
  check(size >= 8, "{}: truncated: {} bytes, too short for the 8-byte safetensors header length", file, size);
  uint64_t hlen;
  std::memcpy(&hlen, base, 8);
  check(hlen <= size - 8, "{}: header length {} runs past the end of the file ({} bytes)", file, hlen, size);
  check(hlen <= kMaxHeader, "{}: header length {} is absurd (limit {} bytes)", file, hlen, kMaxHeader);
  std::string_view text(reinterpret_cast<const char*>(base + 8), size_t(hlen));
  ojson h = parse_json(file, text, "the safetensors header");
  check(h.is_object(), "{}: the safetensors header is not a JSON object", file);
  const uint8_t* data = base + 8 + hlen;
  const uint64_t data_size = size - 8 - hlen;

  auto out = std::make_unique<LoadedModelFile>(file, "safetensors");
  std::vector<RawTensor> raw;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const ojson& e = it.value();
    if (name == "__metadata__") {
      check(e.is_object(), "{}: '__metadata__' is not an object", file);
      for (auto mt = e.begin(); mt != e.end(); ++mt) {
        check(mt.value().is_string(), "{}: '__metadata__' entry '{}' is not a string", file, mt.key());
        out->add_meta(file, "safetensors." + mt.key(), MetaValue{mt.value().get<std::string>()});
      }
      continue;
    }
    check(e.is_object(), "{}: tensor '{}' entry is not an object", file, name);
    RawTensor t;
    t.info.name = name;
    auto need = [&](const char* f) -> const ojson& {
      auto fi = e.find(f);
      check(fi != e.end(), "{}: tensor '{}' has no field '{}'", file, name, f);
      return *fi;
    };
    t.info.type = st_dtype(file, name, need("dtype"));
    const ojson& shape = need("shape");
    check(shape.is_array(), "{}: tensor '{}' field 'shape' is not an array", file, name);
    check(shape.size() <= 8, "{}: tensor '{}' shape has {} dimensions (at most 8)", file, name, shape.size());
    int64_t numel = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      uint64_t v = json_u64(file, fmt::format("tensor '{}' shape[{}]", name, d), shape[d]);
      int64_t prod;
      if (v > uint64_t(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, int64_t(v), &prod))
        fail("{}: tensor '{}' shape overflows: shape[{}] = {} makes the element count exceed 2^63", file, name, d, v);
      numel = prod;
      t.info.shape.push_back(int64_t(v));
    }
    const ojson& off = need("data_offsets");
    check(off.is_array() && off.size() == 2, "{}: tensor '{}' field 'data_offsets' is not a [begin, end] pair", file,
          name);
    uint64_t b = json_u64(file, fmt::format("tensor '{}' data_offsets[0]", name), off[0]);
    uint64_t en = json_u64(file, fmt::format("tensor '{}' data_offsets[1]", name), off[1]);
    check(b <= en, "{}: tensor '{}' data_offsets [{}, {}] end before they begin", file, name, b, en);
    check(en <= data_size, "{}: tensor '{}' data_offsets [{}, {}] run past the end of the data section ({} bytes)",
          file, name, b, en, data_size);
    size_t esize = size_t(qtype_block_bytes(t.info.type));
    uint64_t want;
    if (__builtin_mul_overflow(uint64_t(numel), uint64_t(esize), &want))
      fail("{}: tensor '{}' byte size overflows", file, name);
    check(en - b == want, "{}: tensor '{}' data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}", file, name,
          b, en, en - b, fmt::join(t.info.shape, "x"), qtype_name(t.info.type), want);
    t.begin = b;
    t.info.nbytes = size_t(want);
    t.info.data = data + b;
    raw.push_back(std::move(t));
  }
  std::vector<const RawTensor*> order;
  for (const RawTensor& t : raw)
    if (t.info.nbytes > 0) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const RawTensor* a, const RawTensor* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i) {
    const RawTensor& a = *order[i - 1];
    const RawTensor& b = *order[i];
    if (a.begin + a.info.nbytes > b.begin)
      fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", file, a.info.name, a.begin, a.begin + a.info.nbytes,
           b.info.name, b.begin, b.begin + b.info.nbytes);
  }
  // Writers pad the header to 8 bytes, but the format does not require it: data the kernels
  // cannot read in place is read from an aligned copy.
  if (auto c = realign_if_needed(raw, [](RawTensor& t) -> TensorInfo& { return t.info; })) out->keep(std::move(c));
  for (RawTensor& t : raw) out->add_tensor(file, std::move(t.info));
  out->keep(std::move(m));
  return out;
}

namespace {

// config.json values that MetaValue can hold; others (null, arrays of objects) are skipped here
// because the raw text stays available under "hf.config_json".
void flatten(LoadedModelFile& f, const std::string& file, const std::string& prefix, const ojson& j) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix + "." + it.key();
    const ojson& v = it.value();
    if (v.is_object()) {
      flatten(f, file, key, v);
    } else if (v.is_boolean()) {
      f.add_meta(file, key, MetaValue{v.get<bool>()});
    } else if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u <= uint64_t(std::numeric_limits<int64_t>::max())) f.add_meta(file, key, MetaValue{int64_t(u)});
      else f.add_meta(file, key, MetaValue{u});
    } else if (v.is_number_integer()) {
      f.add_meta(file, key, MetaValue{v.get<int64_t>()});
    } else if (v.is_number_float()) {
      f.add_meta(file, key, MetaValue{v.get<double>()});
    } else if (v.is_string()) {
      f.add_meta(file, key, MetaValue{v.get<std::string>()});
    } else if (v.is_array()) {
      bool ints = true, nums = true, strs = true, bools = true;
      for (const ojson& e : v) {
        ints = ints && e.is_number_integer() && !(e.is_number_unsigned() && e.get<uint64_t>() > uint64_t(INT64_MAX));
        nums = nums && e.is_number();
        strs = strs && e.is_string();
        bools = bools && e.is_boolean();
      }
      MetaValue::Array a;
      if (ints) {
        std::vector<int64_t> x;
        for (const ojson& e : v) x.push_back(e.get<int64_t>());
        a = std::move(x);
      } else if (nums) {
        std::vector<double> x;
        for (const ojson& e : v) x.push_back(e.get<double>());
        a = std::move(x);
      } else if (strs) {
        std::vector<std::string> x;
        for (const ojson& e : v) x.push_back(e.get<std::string>());
        a = std::move(x);
      } else if (bools) {
        std::vector<bool> x;
        for (const ojson& e : v) x.push_back(e.get<bool>());
        a = std::move(x);
      } else {
        continue;
      }
      f.add_meta(file, key, MetaValue{std::move(a)});
    }
  }
}

std::string read_text(const std::string& path) {
  auto m = Mapping::map_file(path);
  return std::string(reinterpret_cast<const char*>(m->data()), m->size());
}

std::unique_ptr<LoadedModelFile> open_index(const std::string& index_path) {
  std::string text = read_text(index_path);
  ojson j = parse_json(index_path, text, "the shard index");
  check(j.is_object(), "{}: the shard index is not a JSON object", index_path);
  auto wm = j.find("weight_map");
  check(wm != j.end() && wm->is_object(), "{}: no 'weight_map' object", index_path);
  fs::path dir = fs::path(index_path).parent_path();
  std::vector<std::string> shards;  // in order of first mention
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    check(it.value().is_string(), "{}: weight_map['{}'] is not a string", index_path, it.key());
    const std::string& s = it.value().get_ref<const std::string&>();
    // Shards are plain file names beside the index; refuse paths that would leave the directory.
    check(!s.empty() && s.find('/') == std::string::npos && s.find('\\') == std::string::npos && s != "." && s != "..",
          "{}: weight_map['{}'] = '{}' is not a plain file name", index_path, it.key(), s);
    if (std::find(shards.begin(), shards.end(), s) == shards.end()) shards.push_back(s);
  }
  check(!shards.empty(), "{}: 'weight_map' is empty", index_path);
  auto out = std::make_unique<LoadedModelFile>(index_path, "safetensors");
  for (const std::string& s : shards) {
    std::string sp = (dir / s).string();
    auto shard = parse_safetensors(sp, Mapping::map_file(sp));
    for (const TensorInfo& t : shard->tensors()) {
      auto w = wm->find(t.name);
      if (w != wm->end() && w->get_ref<const std::string&>() != s)
        fail("{}: tensor '{}' is in shard '{}' but weight_map says '{}'", index_path, t.name, s,
             w->get_ref<const std::string&>());
      out->add_tensor(sp, t);
    }
    for (const auto& [k, v] : shard->metadata())
      if (!out->has(k)) out->meta().emplace(k, v);
    out->adopt_mappings(*shard);  // the tensors point into the shard's mapping: keep it alive
  }
  for (auto it = wm->begin(); it != wm->end(); ++it)
    check(out->find(it.key()) != nullptr, "{}: weight_map names tensor '{}' but shard '{}' does not hold it",
          index_path, it.key(), it.value().get_ref<const std::string&>());
  return out;
}

}  // namespace

void add_hf_config(LoadedModelFile& f, const std::string& config_path) {
  std::string text = read_text(config_path);
  ojson j = parse_json(config_path, text, "config.json");
  check(j.is_object(), "{}: config.json is not a JSON object", config_path);
  flatten(f, config_path, "hf", j);
  f.add_meta(config_path, "hf.config_json", MetaValue{std::move(text)});
}

std::unique_ptr<LoadedModelFile> open_safetensors_dir_or_index(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  std::unique_ptr<LoadedModelFile> out;
  fs::path dir;
  if (fs::is_directory(p, ec)) {
    dir = p;
    if (fs::exists(p / "model.safetensors.index.json", ec)) {
      out = open_index((p / "model.safetensors.index.json").string());
    } else if (fs::exists(p / "model.safetensors", ec)) {
      std::string f = (p / "model.safetensors").string();
      out = parse_safetensors(f, Mapping::map_file(f));
    } else {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".safetensors") found.push_back(e.path().string());
      check(!found.empty(), "{}: directory holds no model.safetensors.index.json and no *.safetensors file", path);
      std::sort(found.begin(), found.end());
      check(found.size() == 1, "{}: directory holds {} *.safetensors files ({}, ...) but no "
            "model.safetensors.index.json saying how they fit together", path, found.size(), found[0]);
      out = parse_safetensors(found[0], Mapping::map_file(found[0]));
    }
  } else {
    dir = p.parent_path();
    auto m = Mapping::map_file(path);
    uint64_t hlen = 0;
    if (m->size() >= 8) std::memcpy(&hlen, m->data(), 8);
    if (looks_like_safetensors(m->data(), m->size()) && hlen <= m->size() - 8) out = parse_safetensors(path, std::move(m));
    else out = open_index(path);  // a JSON file: a shard index
  }
  fs::path cfg = (dir.empty() ? fs::path(".") : dir) / "config.json";
  if (fs::is_regular_file(cfg, ec)) add_hf_config(*out, cfg.string());
  return out;
}

}  // namespace eft::loader
