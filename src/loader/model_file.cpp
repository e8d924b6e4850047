// ModelFile accessors and the format detection behind open_model_file.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "eft/error.h"
#include "loader/loaded_file.h"

namespace eft {

namespace {
template <class... Ts> struct overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> overloaded(Ts...) -> overloaded<Ts...>;
}  // namespace

std::string meta_type_name(const MetaValue& m) {
  return std::visit(overloaded{
      [](int64_t) -> std::string { return "int"; },
      [](uint64_t) -> std::string { return "uint"; },
      [](double) -> std::string { return "float"; },
      [](bool) -> std::string { return "bool"; },
      [](const std::string&) -> std::string { return "string"; },
      [](const MetaValue::Array& a) -> std::string {
        return std::visit(overloaded{
            [](const std::vector<int64_t>&) -> std::string { return "int array"; },
            [](const std::vector<double>&) -> std::string { return "float array"; },
            [](const std::vector<std::string>&) -> std::string { return "string array"; },
            [](const std::vector<bool>&) -> std::string { return "bool array"; }}, a);
      }}, m.v);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // the parsers have checked that this cannot overflow
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t c = cols();
  return c == 0 ? 0 : numel() / c;
}

const TensorInfo* ModelFile::find(const std::string& name) const {
  if (index_.size() != tensors_.size()) {  // a subclass (e.g. a test double) filled tensors_ alone
    for (const TensorInfo& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& ModelFile::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  check(t != nullptr, "{}: tensor '{}' not found ({} tensors in the file)", path(), name, tensors_.size());
  return *t;
}

namespace {
const MetaValue& lookup(const ModelFile& f, const std::map<std::string, MetaValue>& meta, const std::string& key) {
  auto it = meta.find(key);
  check(it != meta.end(), "{}: metadata key '{}' not found", f.path(), key);
  return it->second;
}
}  // namespace

int64_t ModelFile::get_int(const std::string& key) const {
  const MetaValue& m = lookup(*this, meta_, key);
  if (auto* i = std::get_if<int64_t>(&m.v)) return *i;
  if (auto* u = std::get_if<uint64_t>(&m.v)) {
    check(*u <= uint64_t(std::numeric_limits<int64_t>::max()), "{}: metadata '{}' = {} does not fit int64", path(), key, *u);
    return int64_t(*u);
  }
  if (auto* d = std::get_if<double>(&m.v)) {
    // JSON configs may write integers as 10000.0; accept those, refuse 0.5.
    check(std::isfinite(*d) && std::trunc(*d) == *d && std::fabs(*d) < 9.0e18,
          "{}: metadata '{}' = {} is not an integer", path(), key, *d);
    return int64_t(*d);
  }
  fail("{}: metadata '{}' is a {}, expected an integer", path(), key, meta_type_name(m));
}

double ModelFile::get_float(const std::string& key) const {
  const MetaValue& m = lookup(*this, meta_, key);
  if (auto* d = std::get_if<double>(&m.v)) return *d;
  if (auto* i = std::get_if<int64_t>(&m.v)) return double(*i);
  if (auto* u = std::get_if<uint64_t>(&m.v)) return double(*u);
  fail("{}: metadata '{}' is a {}, expected a number", path(), key, meta_type_name(m));
}

bool ModelFile::get_bool(const std::string& key) const {
  const MetaValue& m = lookup(*this, meta_, key);
  if (auto* b = std::get_if<bool>(&m.v)) return *b;
  fail("{}: metadata '{}' is a {}, expected a bool", path(), key, meta_type_name(m));
}

std::string ModelFile::get_string(const std::string& key) const {
  const MetaValue& m = lookup(*this, meta_, key);
  if (auto* s = std::get_if<std::string>(&m.v)) return *s;
  fail("{}: metadata '{}' is a {}, expected a string", path(), key, meta_type_name(m));
}

const MetaValue::Array& ModelFile::get_array(const std::string& key) const {
  const MetaValue& m = lookup(*this, meta_, key);
  if (auto* a = std::get_if<MetaValue::Array>(&m.v)) return *a;
  fail("{}: metadata '{}' is a {}, expected an array", path(), key, meta_type_name(m));
}

int64_t ModelFile::get_int_or(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
double ModelFile::get_float_or(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
std::string ModelFile::get_string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

uint64_t ModelFile::total_bytes() const {
  uint64_t n = 0;
  for (const TensorInfo& t : tensors_) n += t.nbytes;
  return n;
}

namespace loader {

void LoadedModelFile::add_meta(const std::string& where, std::string key, MetaValue v) {
  check(meta_.count(key) == 0, "{}: duplicate metadata key '{}'", where, key.substr(0, 200));
  meta_.emplace(std::move(key), std::move(v));
}

void LoadedModelFile::add_tensor(const std::string& where, TensorInfo t) {
  check(index_.count(t.name) == 0, "{}: duplicate tensor name '{}'", where, t.name.substr(0, 200));
  index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
}

bool looks_like_gguf(const uint8_t* p, size_t n) {
  return n >= 4 && p[0] == 'G' && p[1] == 'G' && p[2] == 'U' && p[3] == 'F';
}

bool looks_like_safetensors(const uint8_t* p, size_t n) {
  // 8-byte little-endian header length, then a JSON object (anything JSON-like at byte 8 is
  // taken as an attempt, so a broken header gets the safetensors parser's precise error).
  return n >= 9 && (p[8] == '{' || p[8] == '[' || p[8] == ' ' || p[8] == '\n' || p[8] == '\r' || p[8] == '\t');
}

}  // namespace loader

namespace {
std::unique_ptr<ModelFile> parse_any(const std::string& name, std::shared_ptr<loader::Mapping> m) {
  const uint8_t* p = m->data();
  size_t n = m->size();
  if (loader::looks_like_gguf(p, n)) return loader::parse_gguf(name, std::move(m));
  if (loader::looks_like_safetensors(p, n)) return loader::parse_safetensors(name, std::move(m));
  check(n >= 4, "{}: file too short ({} bytes) to be a GGUF or safetensors file", name, n);
  fail("{}: not a model file: neither GGUF magic 'GGUF' nor a safetensors header (8-byte length + '{{') "
       "at the start (first bytes {:02x} {:02x} {:02x} {:02x})", name, p[0], p[1], p[2], p[3]);
}
}  // namespace

std::unique_ptr<ModelFile> open_model_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::status(path, ec);
  check(!ec && fs::exists(st), "{}: no such file or directory", path);
  if (fs::is_directory(st)) return loader::open_safetensors_dir_or_index(path);
  auto m = loader::Mapping::map_file(path);
  const uint8_t* p = m->data();
  const size_t n = m->size();
  if (loader::looks_like_gguf(p, n)) return loader::parse_gguf(path, std::move(m));
  // A safetensors file's first 8 bytes are a length whose low byte may well be '{' (123) or a
  // space (32): test for safetensors (a plausible length, then JSON) before testing for JSON.
  uint64_t hlen = 0;
  if (n >= 8) std::memcpy(&hlen, p, 8);
  if (loader::looks_like_safetensors(p, n) && hlen <= n - 8) return loader::open_safetensors_dir_or_index(path);
  size_t i = 0;
  while (i < n && i < 64 && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) ++i;
  if (i < n && p[i] == '{') return loader::open_safetensors_dir_or_index(path);  // a shard index
  return parse_any(path, std::move(m));
}

std::unique_ptr<ModelFile> open_model_file_from_memory(const void* data, size_t size, const std::string& name) {
  return parse_any(name, loader::Mapping::borrow(data, size));
}

}  // namespace eft
