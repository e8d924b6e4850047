// matmul: y[n, rows] = x[n, cols] · Wᵀ for W stored in any supported type.
//
// Two paths (see MatmulPath in eft/quant.h):
//  dot   — decode: each weight byte is read once per call and the work per byte is small, so the
//          speed is the memory bandwidth; quantized dot kernels (dot.h) read the compressed blocks
//          directly (4.5-6.5 bits per weight) instead of 32-bit floats. Parallel over row chunks.
//  sgemm — prefill: with many activation rows the work per weight byte grows with n and the
//          limit becomes arithmetic; OpenBLAS's sgemm on f32 tiles dequantized on the fly beats
//          our int8 kernels once n is large enough to amortize the dequantization.
// The crossover n per type comes from bench/bench_matmul.cpp (see matmul_sgemm_threshold).
#include <algorithm>
#include <cblas.h>
#include <vector>

#include "eft/error.h"
#include "eft/parallel.h"
#include "eft/quant.h"
#include "quant/dot.h"

namespace eft {

using namespace quant;

namespace {

// Rows per parallel work item: enough to amortize the scheduling, small enough that 2..64
// threads all get work on the smallest matrices (a 256-row K/V projection gives 16 items).
constexpr int64_t kRowChunk = 16;

void matmul_dot(const QMatrix& w, const float* x, int64_t n, float* y) {
  const size_t rb = qtype_row_bytes(w.type, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const int64_t chunks = (w.rows + kRowChunk - 1) / kRowChunk;
  if (is_float_type(w.type)) {
    const FDotFn f = fdot_kernel(w.type, true);
    parallel_for(chunks, [&](int64_t c) {
      const int64_t r1 = std::min(w.rows, (c + 1) * kRowChunk);
      for (int64_t r = c * kRowChunk; r < r1; ++r)
        for (int64_t i = 0; i < n; ++i) y[i * w.rows + r] = f(base + size_t(r) * rb, x + i * w.cols, w.cols);
    });
    return;
  }
  const int64_t nb = w.cols / 32;
  std::vector<BlockQ8x> xq(size_t(n * nb));  // [n][cols / 32]
  parallel_for(n, [&](int64_t i) { quantize_q8x(x + i * w.cols, xq.data() + i * nb, w.cols); });
  const QDotFn f = qdot_kernel(w.type, true);
  parallel_for(chunks, [&](int64_t c) {
    const int64_t r1 = std::min(w.rows, (c + 1) * kRowChunk);
    // Row outer, activations inner: the row's blocks stay in L1 while all n activations use them.
    for (int64_t r = c * kRowChunk; r < r1; ++r)
      for (int64_t i = 0; i < n; ++i) y[i * w.rows + r] = f(base + size_t(r) * rb, xq.data() + i * nb, nb);
  });
}

// Rows of W per sgemm work item: ~1 MiB of f32, so a tile stays in L2 between being written by
// the dequantization and read by sgemm.
int64_t sgemm_tile_rows(int64_t cols) {
  return std::max<int64_t>((int64_t(1) << 18) / std::max<int64_t>(cols, 1), 16) / 16 * 16;
}

// OpenBLAS runs single-threaded inside this scope and is restored after. The sgemm path runs one
// single-threaded sgemm per tile on each of our pool's threads: alternating our OpenMP pool (for
// the dequantization) with OpenBLAS's own thread pool (for one big sgemm) made both pools' idle
// threads spin against each other — measured 20-50x slower at 16 threads than either alone.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded() : prev_(openblas_get_num_threads()) {
    if (prev_ != 1) openblas_set_num_threads(1);
  }
  ~BlasSingleThreaded() {
    if (prev_ != 1) openblas_set_num_threads(prev_);
  }

 private:
  int prev_;
};

void matmul_sgemm(const QMatrix& w, const float* x, int64_t n, float* y) {
  const size_t rb = qtype_row_bytes(w.type, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  // At least one tile per thread, so small matrices still use the whole pool.
  const int64_t per_thread = (w.rows + num_threads() - 1) / num_threads();
  const int64_t tile = std::min({sgemm_tile_rows(w.cols), (per_thread + 15) / 16 * 16, w.rows});
  const int64_t tiles = (w.rows + tile - 1) / tile;
  BlasSingleThreaded single;
  parallel_for(tiles, [&](int64_t t) {
    const int64_t r0 = t * tile, tr = std::min(tile, w.rows - r0);
    const float* wt;
    thread_local std::vector<float> buf;  // [tile rows][cols], reused across calls
    if (w.type == QType::F32) {
      wt = reinterpret_cast<const float*>(base + size_t(r0) * rb);  // already f32: no copy
    } else {
      buf.resize(size_t(tr * w.cols));
      for (int64_t r = 0; r < tr; ++r)
        dequantize_row(w.type, base + size_t(r0 + r) * rb, buf.data() + r * w.cols, w.cols);
      wt = buf.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(tr), int(w.cols), 1.0f, x, int(w.cols), wt,
                int(w.cols), 0.0f, y + r0, int(w.rows));
  });
}

}  // namespace

int64_t matmul_sgemm_threshold(QType t) {
  // Crossover n measured with bench_matmul (W 2048 x 2048, weights streamed from DRAM), 2026-11-28.
  // Time per call in ms, dot path / sgemm path:
  //
  //  1 thread, AMD EPYC (Zen 4) dev VM, CPU time (machine shared, real time unreliable):
  //   type    n=8        n=16       n=32       n=64
  //   f32     2.89/3.51  5.70/5.31  10.1/6.47  18.2/9.31
  //   q8_0    1.62/5.14  3.01/5.77  5.62/7.29  10.9/9.99
  //   q4_1    2.11/5.28  3.64/5.91  7.15/7.57  14.1/10.4
  //   q5_0    2.16/6.38  4.23/7.34  8.98/9.27  16.2/11.3
  //   q4_K    2.36/5.40  4.65/6.09  9.21/7.63  18.3/10.4
  //   q6_K    2.43/8.03  5.47/8.58  9.53/10.1  18.2/12.6
  //  16 threads, Intel Xeon VM of the GPU host (model not reported), real time:
  //   f32     0.46/0.45  0.78/0.51  1.46/0.67  2.70/1.01
  //   q8_0    0.27/0.85  0.49/0.90  0.89/1.07  1.82/1.37
  //   q4_1    0.35/0.70  0.62/0.72  1.31/0.90  2.44/1.16
  //   q5_0    0.35/0.82  0.67/0.89  1.38/1.16  2.77/1.96
  //   q4_K    0.44/0.94  0.78/0.88  1.57/1.05  3.17/1.37
  //   q6_K    0.45/1.13  0.85/1.11  1.59/1.35  2.89/1.49
  //  Decode (n = 1), 16 threads: 30-48 GB/s of quantized weights (q4_K 30, q4_1 41, q8_0 48)
  //  against a plain 256 MB read at 77 GB/s; at n = 1 sgemm is ~10x slower (1 thread, EPYC).
  // Both machines agree: the dot path wins below, sgemm at and above —
  //   f32/f16/bf16: 16 (no activation quantization to amortize; sgemm's blocking wins early)
  //   q8_0: 64 (its int8 kernel has nothing to unpack); other quantized types: 32.
  if (is_float_type(t)) return 16;
  if (t == QType::Q8_0) return 64;
  return 32;
}

void matmul(const QMatrix& w, const float* x, int64_t n, float* y, MatmulPath path) {
  check(w.rows >= 0 && w.cols >= 0 && n >= 0, "matmul: negative size (rows {}, cols {}, n {})", w.rows, w.cols, n);
  check(w.cols % qtype_block_elems(w.type) == 0, "matmul: cols {} is not a multiple of the {} block size {}", w.cols,
        qtype_name(w.type), qtype_block_elems(w.type));
  // cblas takes int sizes.
  check(w.rows < (int64_t(1) << 31) && w.cols < (int64_t(1) << 31) && n < (int64_t(1) << 31),
        "matmul: sizes (rows {}, cols {}, n {}) exceed 2^31", w.rows, w.cols, n);
  if (n == 0 || w.rows == 0) return;
  check(x != nullptr && y != nullptr && (w.data != nullptr || w.cols == 0), "matmul: null pointer (w {}, x {}, y {})",
        w.data, static_cast<const void*>(x), static_cast<const void*>(y));
  if (w.cols == 0) {
    std::fill(y, y + n * w.rows, 0.0f);
    return;
  }
  if (path == MatmulPath::automatic) path = n >= matmul_sgemm_threshold(w.type) ? MatmulPath::sgemm : MatmulPath::dot;
  if (path == MatmulPath::dot) matmul_dot(w, x, n, y);
  else matmul_sgemm(w, x, n, y);
}

void matmul(const QMatrix& w, const float* x, int64_t n, float* y) { matmul(w, x, n, y, MatmulPath::automatic); }

}  // namespace eft
