// attention_cpu: validate once, then hand the call to the chosen method.
#include "attention/cpu/methods.h"
#include "eft/error.h"

namespace eft {

void attention_cpu(const AttentionParams& p, const AttentionArgs& a) {
  validate_attention(p, a, true);
  switch (p.method) {
    case AttnMethod::standard: return cpu::attention_standard(p, a);
    case AttnMethod::flash: return cpu::attention_flash(p, a, /*skip_empty_tiles=*/false);
    case AttnMethod::sparse: return cpu::attention_flash(p, a, /*skip_empty_tiles=*/true);
    case AttnMethod::linear: return cpu::attention_linear(p, a);
  }
  fail("unknown attention method {}", int(p.method));
}

}  // namespace eft
