// matmul: y[n, rows] = x[n, cols] · Wᵀ for W stored in any supported type.
//
// Two paths (see MatmulPath in eft/quant.h):
//  dot   — decode: each weight byte is read once per call and the work per byte is small, so the
//          speed is the memory bandwidth; quantized dot kernels (dot.h) read the compressed blocks
//          directly (4.5-6.5 bits per weight) instead of 32-bit floats. Parallel over row chunks.
//  sgemm — prefill: with many activation rows the work per weight byte grows with n and the
//          limit becomes arithmetic; OpenBLAS's sgemm on f32 tiles dequantized on the fly beats
//          our int8 kernels once n is large enough to amortize the dequantization.
// The crossover n per type comes from bench/bench_matmul.cpp (see kSgemmFrom below).
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

void matmul_sgemm(const QMatrix& w, const float* x, int64_t n, float* y) {
  if (w.type == QType::F32) {  // already f32: one call, no copy
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(w.rows), int(w.cols), 1.0f, x, int(w.cols),
                static_cast<const float*>(w.data), int(w.cols), 0.0f, y, int(w.rows));
    return;
  }
  const size_t rb = qtype_row_bytes(w.type, w.cols);
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  // Tiles of ~1 MiB of f32 (L2-sized on current x86), a multiple of 16 rows.
  int64_t tile = std::clamp<int64_t>((int64_t(1) << 18) / std::max<int64_t>(w.cols, 1), 16, 4096) / 16 * 16;
  tile = std::min(tile, w.rows);
  std::vector<float> buf(size_t(tile * w.cols));  // [tile rows][cols]
  for (int64_t r0 = 0; r0 < w.rows; r0 += tile) {
    const int64_t tr = std::min(tile, w.rows - r0);
    parallel_for((tr + kRowChunk - 1) / kRowChunk, [&](int64_t c) {
      const int64_t e = std::min(tr, (c + 1) * kRowChunk);
      for (int64_t r = c * kRowChunk; r < e; ++r)
        dequantize_row(w.type, base + size_t(r0 + r) * rb, buf.data() + r * w.cols, w.cols);
    });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(tr), int(w.cols), 1.0f, x, int(w.cols),
                buf.data(), int(w.cols), 0.0f, y + r0, int(w.rows));
  }
}

}  // namespace

int64_t matmul_sgemm_threshold(QType t) {
  // Measured with bench_matmul (see the table in bench/RESULTS.md); placeholder until measured.
  return is_float_type(t) ? 8 : 32;
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
