#pragma once
// Loading progress for the CLI. Model files are mmapped, so "loading" the weights means the OS
// reading their pages on first touch; doing that up front, tensor by tensor, gives a real progress
// bar and keeps disk reads out of the time to first token.
#include <cstdio>
#include <unistd.h>

#include "eft/model_file.h"

namespace eft::cli {

inline void load_with_progress(const ModelFile& f) {
  const bool tty = isatty(fileno(stderr));
  const double total = double(f.total_bytes() ? f.total_bytes() : 1);
  double done = 0;
  int last_pct = -1;
  uint8_t acc = 0;
  volatile uint8_t sink = 0;  // stored once per tensor, so the page reads cannot be optimised away
  for (const TensorInfo& t : f.tensors()) {
    for (size_t off = 0; off < t.nbytes; off += 4096) acc = uint8_t(acc ^ t.data[off]);  // one read per page
    sink = acc;
    done += double(t.nbytes);
    const int pct = int(100.0 * done / total);
    if (tty && pct != last_pct) {
      const int bar = pct * 30 / 100;
      std::fprintf(stderr, "\reft: loading [%.*s%*s] %3d%% %.0f / %.0f MiB", bar, "##############################",
                   30 - bar, "", pct, done / 1048576.0, total / 1048576.0);
      last_pct = pct;
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  else std::fprintf(stderr, "eft: loaded %.0f MiB of weights\n", done / 1048576.0);
  (void)sink;
}

}  // namespace eft::cli
