#pragma once
// Shared body of the loader fuzz targets: parse, and when the input is accepted, touch everything
// the parser promised is valid (every tensor's first and last byte, a dequantized first row, every
// metadata accessor), so ASan catches any extent the validation let through.
#include <cstdint>
#include <vector>

#include "eft/error.h"
#include "eft/model_file.h"
#include "loader/loaded_file.h"

namespace eft::fuzz {

inline volatile uint8_t g_sink;

inline void exercise(const ModelFile& f) {
  for (const auto& [k, v] : f.metadata()) {
    (void)meta_type_name(v);
    try { (void)f.get_int(k); } catch (const Error&) {}
    try { (void)f.get_float(k); } catch (const Error&) {}
    try { (void)f.get_string(k); } catch (const Error&) {}
    try { (void)f.get_array(k); } catch (const Error&) {}
  }
  std::vector<float> row;
  for (const TensorInfo& t : f.tensors()) {
    if (t.nbytes > 0) g_sink = uint8_t(t.data[0] ^ t.data[t.nbytes - 1]);
    (void)f.get(t.name);
    const int64_t cols = t.cols();
    if (t.nbytes == 0 || cols <= 0 || cols > (1 << 16)) continue;  // bound the work per input
    row.resize(size_t(cols));
    dequantize_row(t.type, t.data, row.data(), cols);
  }
  (void)f.total_bytes();
  try { (void)f.get("\x01 no such tensor"); } catch (const Error&) {}
}

}  // namespace eft::fuzz
