#!/usr/bin/env python3
"""Writes tiny random-weight models of each architecture eft runs, with golden logits.

For Llama, Qwen2, Gemma 3 and Mistral (sliding window) it builds a HF transformers model
(hidden 64, a few layers, vocab 512) from a fixed seed, saves it as safetensors + config.json and
runs fixed token-id prompts through it in float32 with eager attention, saving the logits at
every position. eft's tests (tests/model) load the same files and must reproduce those logits.

    python tools/make_tiny_models.py [OUT_DIR]      (default: tests/fixtures/tiny)

Needs torch, transformers and safetensors (CPU wheels are enough). Output per model:
    OUT_DIR/<name>/config.json, model.safetensors
    OUT_DIR/<name>/tokenizer.json  a byte-level BPE of 512 tokens trained on a few sentences (so
                                   `eft run -m OUT_DIR/<name> -p TEXT` works end to end)
    OUT_DIR/<name>/golden.json   {"prompts": [[ids...], ...], "vocab": V, "transformers": version}
    OUT_DIR/<name>/logits_<i>.f32  little-endian float32 [len(prompt_i), V]
"""
import json
import os
import sys

import torch
import transformers
from transformers import (Gemma3TextConfig, Gemma3ForCausalLM, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

VOCAB = 512
HIDDEN = 64

# Fixed prompts (token ids). Lengths straddle the sliding windows below (4 and 5) and the KV
# cache's test block sizes, so windows, partial blocks and several blocks all get exercised.
PROMPTS = [
    [1, 17, 250, 33, 498, 7, 121, 64, 300, 5, 77, 410, 2, 99, 256, 18, 311, 45, 500, 3],
    [1, 400, 12, 9, 301, 222, 87],
    [1, 5, 5, 5, 60, 61, 62, 63, 64, 65, 66, 67, 68],
]


def common(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=128, num_attention_heads=4,
                max_position_embeddings=256, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2,
                pad_token_id=0)
    base.update(kw)
    return base


# Text for the tiny tokenizer: any few sentences will do; the golden logits use token ids.
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a small model that could only say a few words.",
    "Attention is all you need, said the paper, and the cache made decoding fast.",
    "def add(a, b):\n    return a + b\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000.",
] * 20


def tiny_tokenizer():
    """Byte-level BPE (GPT-2 style) with <pad>=0, <s>=1, </s>=2 and 509 more tokens."""
    from tokenizers import Tokenizer, decoders, models as tmodels, pre_tokenizers, trainers
    tok = Tokenizer(tmodels.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    assert tok.get_vocab_size() <= VOCAB, tok.get_vocab_size()
    return tok


def models():
    yield "llama", LlamaForCausalLM, LlamaConfig(**common(
        num_hidden_layers=2, num_key_value_heads=2, rope_theta=10000.0, tie_word_embeddings=False))
    yield "qwen2", Qwen2ForCausalLM, Qwen2Config(**common(
        num_hidden_layers=2, num_key_value_heads=1, rope_theta=1000000.0, tie_word_embeddings=True,
        use_sliding_window=False))
    yield "mistral", MistralForCausalLM, MistralConfig(**common(
        num_hidden_layers=2, num_key_value_heads=2, rope_theta=10000.0, sliding_window=5,
        tie_word_embeddings=False, head_dim=16))
    # Gemma 3: MQA, head_dim 16 with query_pre_attn_scalar 24 (so the scale is read, not assumed),
    # three local layers (window 4, RoPE base 10000) and one global (base 1e6).
    yield "gemma3", Gemma3ForCausalLM, Gemma3TextConfig(**common(
        num_hidden_layers=4, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=24,
        sliding_window=4, layer_types=["sliding_attention", "sliding_attention", "full_attention",
                                       "sliding_attention"],
        rope_theta=1000000.0, rope_local_base_freq=10000.0, tie_word_embeddings=True,
        hidden_activation="gelu_pytorch_tanh", final_logit_softcapping=None,
        attn_logit_softcapping=None))


def randomize(model, name):
    """Weights large enough that every layer matters (HF's 0.02 init leaves logits near zero), and
    norm weights away from their init so the (1 + w) convention of Gemma is really tested."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() == 1 and "norm" in pname:
                shift = 0.0 if name == "gemma3" else 1.0  # Gemma computes x * (1 + w)
                p.copy_(shift + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[1]
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests",
                                                               "fixtures", "tiny")
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    for name, cls, cfg in models():
        cfg._attn_implementation = "eager"
        model = cls(cfg).eval().float()
        randomize(model, name)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)
        tok.save(os.path.join(d, "tokenizer.json"))
        for extra in ("generation_config.json",):
            p = os.path.join(d, extra)
            if os.path.exists(p):
                os.remove(p)
        with torch.no_grad():
            for i, ids in enumerate(PROMPTS):
                logits = model(torch.tensor([ids])).logits[0].float().contiguous()
                assert logits.shape == (len(ids), VOCAB)
                logits.numpy().astype("<f4").tofile(os.path.join(d, f"logits_{i}.f32"))
        with open(os.path.join(d, "golden.json"), "w") as f:
            json.dump({"prompts": PROMPTS, "vocab": VOCAB, "transformers": transformers.__version__,
                       "torch": torch.__version__, "attn_implementation": "eager"}, f, indent=1)
        print(f"{name}: {d}")


if __name__ == "__main__":
    main()
