#!/usr/bin/env python3
"""Reference greedy continuations of the real test models, from HF transformers.

transformers loads the GGUF itself (dequantizing every tensor to float32 through the `gguf`
package), so the reference runs the same weights as eft, in float32, with eager attention. For
each fixed prompt it records the prompt's token ids (HF's tokenizer built from the same GGUF),
the greedy continuation of N tokens (EOS does not stop it: the loop is ours, no logits
processors), and at every step the 8 largest logits with their ids, so eft's test can report the
top-1 agreement and the largest logit difference without storing whole vocabularies.

    python tools/ref_greedy.py [smollm2|gemma3|all] [--tokens N] [--out DIR]

Writes DIR/ref_greedy_<model>.json (default DIR: tests/fixtures/tiny). Needs torch, transformers,
gguf; the model files come from tools/fetch_models.sh (~/.cache/eft).
"""
import argparse
import hashlib
import json
import os
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

CACHE = os.environ.get("EFT_CACHE", os.path.expanduser("~/.cache/eft"))
MODELS = {
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
}
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "Water boils at a temperature of",
    "Q: What is 12 plus 7?\nA:",
]
# One long prompt (> 600 tokens for both tokenizers) so Gemma 3's sliding-window layers (window
# 512) really drop keys while its global layers keep them: the window convention is checked on
# the real model, not only on the tiny one.
_FACTS = [
    "The river that runs through the old town was once used to carry timber to the coast.",
    "In spring the orchards on the northern hills turn white with blossom for about two weeks.",
    "The library keeps a collection of maps drawn by sailors who visited the harbour.",
    "Every autumn the market square hosts a fair where farmers sell apples, cheese and honey.",
    "A stone bridge with seven arches connects the two halves of the town.",
    "The clock tower was rebuilt after a fire and now chimes every quarter of an hour.",
    "Children learn to swim in the lake, which stays cold even in the middle of summer.",
    "The railway station opened in the last century and still has its original wooden benches.",
]
LONG = "Notes about a small town.\n" + "".join(
    f"{i + 1}. {_FACTS[(i * 3) % len(_FACTS)]} Entry {i + 1} was written down by visitor number {i * 7 + 11}.\n"
    for i in range(18)) + "Summary: the most interesting thing about the town is"
PROMPTS.append(LONG)
TOP = 8


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(name, n_tokens, out_dir):
    fname = MODELS[name]
    path = os.path.join(CACHE, fname)
    tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=fname)
    model = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=fname, torch_dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    entries = []
    for text in PROMPTS:
        t0 = time.time()
        ids = tok(text, add_special_tokens=True)["input_ids"]
        seq = torch.tensor([ids])
        greedy, tops = [], []
        past = None
        with torch.no_grad():
            for _ in range(n_tokens):
                out = model(seq if past is None else seq[:, -1:], past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float()
                v, i = torch.topk(logits, TOP)
                nxt = int(i[0])
                greedy.append(nxt)
                tops.append([[int(a), float(b)] for a, b in zip(i.tolist(), v.tolist())])
                seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
        entries.append({"text": text, "ids": ids, "greedy": greedy, "top": tops,
                        "continuation": tok.decode(greedy)})
        print(f"{name}: {text!r} -> {tok.decode(greedy)!r} ({time.time() - t0:.1f} s)", flush=True)
    doc = {"model_file": fname, "sha256": sha256(path), "reference": "HF transformers on the GGUF's "
           "dequantized weights, float32, eager attention, greedy", "transformers": transformers.__version__,
           "torch": torch.__version__, "tokens": n_tokens, "prompts": entries}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"ref_greedy_{name}.json"), "w") as f:
        json.dump(doc, f, indent=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="all", choices=["smollm2", "gemma3", "all"])
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                  "fixtures", "tiny"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    for name in (["smollm2", "gemma3"] if a.model == "all" else [a.model]):
        run(name, a.tokens, a.out)


if __name__ == "__main__":
    main()
