#include "tokenizer/meta.h"

#include "eft/error.h"

namespace eft::tok {
namespace {

const char* kind(const MetaValue& v) {
  switch (v.v.index()) {
    case 0: return "int";
    case 1: return "uint";
    case 2: return "float";
    case 3: return "bool";
    case 4: return "string";
    default: break;
  }
  switch (std::get<MetaValue::Array>(v.v).index()) {
    case 0: return "int array";
    case 1: return "float array";
    case 2: return "string array";
    default: return "bool array";
  }
}

}  // namespace

Meta::Meta(const ModelFile& mf) : f(mf), file(mf.path()) {}

const MetaValue& Meta::get(const std::string& key) const {
  auto it = f.metadata().find(key);
  check(it != f.metadata().end(), "{}: metadata key {} is missing", file, key);
  return it->second;
}

std::string Meta::string(const std::string& key) const {
  const MetaValue& v = get(key);
  const auto* s = std::get_if<std::string>(&v.v);
  check(s != nullptr, "{}: metadata {} is a {}, expected a string", file, key, kind(v));
  return *s;
}

std::string Meta::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? string(key) : fallback;
}

int64_t Meta::integer(const std::string& key) const {
  const MetaValue& v = get(key);
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v.v)) {
    check(*u <= static_cast<uint64_t>(INT64_MAX), "{}: metadata {} = {} is too large", file, key, *u);
    return static_cast<int64_t>(*u);
  }
  fail("{}: metadata {} is a {}, expected an integer", file, key, kind(v));
}

bool Meta::boolean_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const MetaValue& v = get(key);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return *i != 0;
  fail("{}: metadata {} is a {}, expected a bool", file, key, kind(v));
}

const std::vector<std::string>& Meta::strings(const std::string& key) const {
  const MetaValue& v = get(key);
  const auto* a = std::get_if<MetaValue::Array>(&v.v);
  const auto* s = a ? std::get_if<std::vector<std::string>>(a) : nullptr;
  check(s != nullptr, "{}: metadata {} is a {}, expected a string array", file, key, kind(v));
  return *s;
}

std::vector<int64_t> Meta::ints(const std::string& key) const {
  const MetaValue& v = get(key);
  const auto* a = std::get_if<MetaValue::Array>(&v.v);
  if (a) {
    if (const auto* i = std::get_if<std::vector<int64_t>>(a)) return *i;
  }
  fail("{}: metadata {} is a {}, expected an int array", file, key, kind(v));
}

std::vector<double> Meta::floats(const std::string& key) const {
  const MetaValue& v = get(key);
  const auto* a = std::get_if<MetaValue::Array>(&v.v);
  if (a) {
    if (const auto* d = std::get_if<std::vector<double>>(a)) return *d;
    if (const auto* i = std::get_if<std::vector<int64_t>>(a)) return {i->begin(), i->end()};
  }
  fail("{}: metadata {} is a {}, expected a float array", file, key, kind(v));
}

}  // namespace eft::tok
