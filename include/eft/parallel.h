#pragma once
// CPU parallelism: OpenMP underneath, sized from the machine, overridable with EFT_THREADS or
// set_num_threads (the CLI's --threads).
#include <cstdint>
#include <functional>

namespace eft {

int num_threads();
void set_num_threads(int n);  // n <= 0: back to the machine's default

// Calls fn(i) for i in [0, n) on the pool; chunks are handed out dynamically because attention
// work items (query tiles under a causal mask) differ in cost.
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace eft
