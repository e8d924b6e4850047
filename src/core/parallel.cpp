#include "eft/parallel.h"

#include <cstdlib>
#include <omp.h>

namespace eft {

namespace {
int default_threads() {
  if (const char* e = std::getenv("EFT_THREADS")) {
    int n = std::atoi(e);
    if (n > 0) return n;
  }
  return omp_get_num_procs();
}
int g_threads = 0;
}  // namespace

int num_threads() {
  if (g_threads <= 0) g_threads = default_threads();
  return g_threads;
}

void set_num_threads(int n) { g_threads = n > 0 ? n : default_threads(); }

void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  int t = num_threads();
  if (t <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(t)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace eft
