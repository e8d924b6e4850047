// libFuzzer target: the safetensors parser on arbitrary bytes (single file, from memory).
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = eft::loader::parse_safetensors("fuzz.safetensors", eft::loader::Mapping::borrow(data, size));
    eft::fuzz::exercise(*f);
  } catch (const eft::Error&) {
  }
  return 0;
}
