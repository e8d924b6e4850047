#pragma once
// CPU attention methods behind attention_cpu(). Each assumes validate_attention() passed.
#include "eft/attention.h"

namespace eft::cpu {

void attention_standard(const AttentionParams& p, const AttentionArgs& a);
void attention_flash(const AttentionParams& p, const AttentionArgs& a, bool skip_empty_tiles);
void attention_linear(const AttentionParams& p, const AttentionArgs& a);

}  // namespace eft::cpu
