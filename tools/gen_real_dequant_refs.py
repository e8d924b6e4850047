#!/usr/bin/env python3
"""Reference rows of the real test models, decoded by an independent implementation (the `gguf`
package's numpy dequantizer), for tests/loader/test_real_models.cpp to compare against eft's.

    python -m venv /tmp/v && /tmp/v/bin/pip install gguf==0.17.1
    /tmp/v/bin/python tools/gen_real_dequant_refs.py [CACHE_DIR]   (default ~/.cache/eft)

Writes tests/fixtures/loader/real_dequant_refs.json: for the first two tensors of every type in
each model, rows 0, middle and last: the row's float64 sum and sum of squares and the values at a
few fixed columns. Only reference numbers are committed, not model bytes.
"""
import json
import os
import sys

import numpy as np
from gguf import GGUFReader, quants

CACHE = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/eft")
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "loader", "real_dequant_refs.json")
MODELS = ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]


def main():
    refs = []
    for name in MODELS:
        r = GGUFReader(os.path.join(CACHE, name))
        seen = {}
        for t in r.tensors:
            tname = t.tensor_type.name
            if seen.get(tname, 0) >= 2:
                continue
            seen[tname] = seen.get(tname, 0) + 1
            cols = int(t.shape[0])  # GGUF ne[0]: the row length
            nrows = int(np.prod([int(x) for x in t.shape[1:]])) if len(t.shape) > 1 else 1
            raw = np.asarray(t.data)
            rows_raw = raw.reshape(nrows, -1)
            for row in sorted({0, nrows // 2, nrows - 1}):
                if tname in ("F32", "F16", "BF16"):
                    vals = np.asarray(rows_raw[row]).astype(np.float64) if tname != "BF16" else None
                    if vals is None:
                        vals = quants.dequantize(rows_raw[row:row + 1].view(np.uint8), t.tensor_type).astype(np.float64).ravel()
                else:
                    vals = quants.dequantize(rows_raw[row:row + 1], t.tensor_type).astype(np.float64).ravel()
                assert vals.size == cols, (t.name, vals.size, cols)
                picks = sorted({0, 1, cols // 3, cols // 2, cols - 2, cols - 1})
                refs.append({"file": name, "tensor": t.name, "type": tname.lower(), "row": row, "cols": cols,
                             "sum": float(vals.sum()), "sumsq": float((vals * vals).sum()),
                             "at": [[c, float(vals[c])] for c in picks]})
    with open(OUT, "w") as f:
        json.dump({"generator": "tools/gen_real_dequant_refs.py (gguf 0.17.1 numpy dequantizer)", "rows": refs}, f,
                  indent=1)
    print(f"wrote {len(refs)} reference rows to {OUT}")


if __name__ == "__main__":
    main()
