// libFuzzer target: the GGUF parser on arbitrary bytes. Any eft::Error is a correct refusal;
// anything else (a crash, a sanitizer report, another exception type, a hang) is a bug.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto f = eft::loader::parse_gguf("fuzz.gguf", eft::loader::Mapping::borrow(data, size));
    eft::fuzz::exercise(*f);
  } catch (const eft::Error&) {
  }
  return 0;
}
