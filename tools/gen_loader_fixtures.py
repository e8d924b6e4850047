#!/usr/bin/env python3
"""Writes the loader's small test fixtures (and the fuzzers' seed corpus) with struct/json only.

    tools/gen_loader_fixtures.py [OUT_DIR]   (default: tests/fixtures/loader)

Files (all deterministic, a few KB in total):
  tiny.gguf            GGUF v3: metadata of every value type, one tensor of each supported type
  tiny_align64.gguf    GGUF v3 with general.alignment = 64 and a 3-D tensor
  tiny.safetensors     F32 / F16 / BF16 tensors and __metadata__
  sharded/             model.safetensors.index.json + 2 shards + config.json
The C++ tests (tests/loader/test_fixtures.cpp) check the values written here.
"""
import json
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "loader")

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
              U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id -> (block elems, block bytes)
QTYPES = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q4_1": (3, 32, 20), "q5_0": (6, 32, 22),
          "q5_1": (7, 32, 24), "q8_0": (8, 32, 34), "q4_K": (12, 256, 144), "q5_K": (13, 256, 176),
          "q6_K": (14, 256, 210), "bf16": (30, 1, 2)}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gvalue(t, v):
    if t == STRING:
        return gstr(v)
    if t == ARRAY:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        for it in items:
            out += gvalue(et, it)
        return out
    return struct.pack(SCALAR_FMT[t], v)


def block_bytes(name, k):
    """One deterministic block of type `name` whose f16 scales are finite (0x3c00 = 1.0, 0x3800 = 0.5)."""
    _, be, bb = QTYPES[name]
    if name == "f32":
        return struct.pack("<f", 0.25 * (k - 3))
    if name == "f16":
        return struct.pack("<H", 0x3c00 if k % 2 else 0xb800)
    if name == "bf16":
        return struct.pack("<H", 0x3f80 if k % 2 else 0xbf00)
    body = bytes((k * 7 + i * 13) & 0xFF for i in range(bb))
    if name in ("q4_0", "q5_0", "q8_0"):
        return struct.pack("<H", 0x3800) + body[2:]
    if name in ("q4_1", "q5_1"):
        return struct.pack("<HH", 0x3800, 0xb400) + body[4:]
    if name in ("q4_K", "q5_K"):
        return struct.pack("<HH", 0x3000, 0x2c00) + body[4:]
    if name == "q6_K":
        return body[:208] + struct.pack("<H", 0x2400)
    raise ValueError(name)


def gguf(metadata, tensors, alignment=32):
    """metadata: list of (key, type, value); tensors: list of (name, type name, shape outermost-first)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for k, t, v in metadata:
        head += gstr(k) + struct.pack("<I", t) + gvalue(t, v)
    infos, datas, off = b"", [], 0
    for name, tname, shape in tensors:
        tid, be, bb = QTYPES[tname]
        ne = list(reversed(shape))  # GGUF: innermost first
        n = 1
        for d in shape:
            n *= d
        data = b"".join(block_bytes(tname, k) for k in range(n // be))
        infos += gstr(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        infos += struct.pack("<IQ", tid, off)
        datas.append(data)
        off += len(data)
        off = (off + alignment - 1) // alignment * alignment
    out = head + infos
    out += b"\0" * ((-len(out)) % alignment)
    for d in datas:
        out += d
        out += b"\0" * ((-len(out)) % alignment)
    return out


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, off, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)  # the format pads the header with spaces to 8 bytes
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def f32s(vals):
    return struct.pack("<%df" % len(vals), *vals)


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    meta = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, "tiny fixture"),
        ("test.u8", U8, 200), ("test.i8", I8, -100), ("test.u16", U16, 60000), ("test.i16", I16, -30000),
        ("test.u32", U32, 4000000000), ("test.i32", I32, -2000000000), ("test.f32", F32, 0.5),
        ("test.bool", BOOL, True), ("test.u64", U64, 18446744073709551615), ("test.i64", I64, -9000000000000000000),
        ("test.f64", F64, -2.25),
        ("test.arr_i32", ARRAY, (I32, [1, -2, 3])),
        ("test.arr_u8", ARRAY, (U8, [255, 0])),
        ("test.arr_f32", ARRAY, (F32, [0.5, -1.5])),
        ("test.arr_str", ARRAY, (STRING, ["a", "", "héllo"])),
        ("test.arr_bool", ARRAY, (BOOL, [True, False, True])),
        ("test.arr_empty", ARRAY, (I64, [])),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<unk>", "<s>", "</s>", "a", "b"])),
        ("llama.embedding_length", U32, 256),
    ]
    tensors = [("t." + n, n, [2, 256] if QTYPES[n][1] == 256 else ([3, 32] if QTYPES[n][1] == 32 else [2, 5]))
               for n in QTYPES]
    with open(os.path.join(OUT, "tiny.gguf"), "wb") as f:
        f.write(gguf(meta, tensors))
    with open(os.path.join(OUT, "tiny_align64.gguf"), "wb") as f:
        f.write(gguf([("general.alignment", U32, 64), ("general.architecture", STRING, "gemma3")],
                     [("a", "f32", [2, 3, 4]), ("b", "q8_0", [1, 64]), ("c", "f16", [7])], alignment=64))

    st = [("w.f32", "F32", [2, 3], f32s([0, 1, 2, 3, 4, -5])),
          ("w.f16", "F16", [4], struct.pack("<4H", 0x3c00, 0xc000, 0x3800, 0)),
          ("w.bf16", "BF16", [2], struct.pack("<2H", 0x3f80, 0xc040)),
          ("w.scalar", "F32", [], f32s([7.0])),
          ("w.empty", "F32", [0, 4], b"")]
    with open(os.path.join(OUT, "tiny.safetensors"), "wb") as f:
        f.write(safetensors(st, {"format": "pt"}))

    shard1 = [("model.embed.weight", "F32", [2, 2], f32s([1, 2, 3, 4]))]
    shard2 = [("model.norm.weight", "F16", [2], struct.pack("<2H", 0x3c00, 0x4000)),
              ("lm_head.weight", "BF16", [1, 2], struct.pack("<2H", 0x3f80, 0x4000))]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    for name, ts in zip(names, (shard1, shard2)):
        with open(os.path.join(OUT, "sharded", name), "wb") as f:
            f.write(safetensors(ts))
    index = {"metadata": {"total_size": 28},
             "weight_map": {"model.embed.weight": names[0], "model.norm.weight": names[1], "lm_head.weight": names[1]}}
    with open(os.path.join(OUT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2,
              "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": False,
              "eos_token_id": [1, 2], "rope_scaling": {"type": "linear", "factor": 2.0}, "pad_token_id": None}
    with open(os.path.join(OUT, "sharded", "config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
