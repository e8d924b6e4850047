#!/usr/bin/env python3
"""Golden fixtures for eft's tokenizers (tests/fixtures/tokenizer/*.json).

Run inside a venv with `gguf tokenizers transformers jinja2` from PyPI (torch is not needed):
    python3 -m venv /tmp/tokvenv && /tmp/tokvenv/bin/pip install gguf tokenizers transformers jinja2
    /tmp/tokvenv/bin/python tools/gen_tokenizer_golden.py [--cache ~/.cache/eft]

References (the specification eft's C++ tokenizers are checked against):
  * GGUF models: the HF `tokenizers` tokenizer that transformers builds from the GGUF metadata
    (transformers.integrations.gguf.gguf_tokenizer_mapping.convert_gguf_tokenizer). We read the
    metadata with the `gguf` package ourselves because transformers' own GGUF reader imports torch.
    One correction: for tokenizer.ggml.pre == "smollm" transformers falls back to plain GPT-2
    splitting, while SmolLM2's own tokenizer.json (and llama.cpp's "smollm" pre-tokenizer) first
    splits every digit on its own: Digits(individual_digits=True) then ByteLevel. We use the latter.
  * HF tokenizer.json: small byte-level BPE tokenizers trained here with `tokenizers` and written
    in the three layouts eft reads (Llama 3, Qwen2 and GPT-2 style); the file itself is the fixture.
  * Chat templates: the GGUF's own tokenizer.chat_template rendered with jinja2 (SmolLM2); Gemma 3's
    GGUF carries none, so Gemma 3's published template (text below) is rendered instead; Llama 3's
    published template likewise.

Strings are generated deterministically (fixed seed). Each case stores the text, the ids of
encode(text, add_special_tokens=False) (added/special tokens written in the text are recognized, as
HF always does), the ids with add_special_tokens=True, and decode(ids) with and without
skip_special_tokens. Invalid UTF-8 cases store the raw bytes in hex: the reference tokenizers take
only valid Unicode, so their ids are those of bytes.decode("utf-8", "replace") -- maximal ill-formed
subparts each become U+FFFD, which is what eft does with invalid input.
"""
import argparse
import json
import os
import random
import sys

import gguf
import jinja2
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers, Regex, AddedToken

SEED = 20261128

# ---------------------------------------------------------------------------------------------
# test strings
WORDS = {
    "latin": "the quick brown fox jumps over lazy dog hello world tokenizer engine transformer attention "
             "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe \u00e5ngstr\u00f6m se\u00f1or "
             "co\u00f6perate \u0141\u00f3d\u017a \u010cesk\u00fd Ol\u00e1 a\u00e7\u00e3o".split(),
    "cyrillic": "\u043f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u044f\u0437\u044b\u043a "
                "\u041c\u043e\u0441\u043a\u0432\u0430 \u0434\u0430\u043d\u043d\u044b\u0435 "
                "\u0442\u043e\u043a\u0435\u043d \u0401\u0436\u0438\u043a \u0449\u0443\u043a\u0430".split(),
    "greek": "\u03b3\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5 "
             "\u0391\u03b8\u03ae\u03bd\u03b1 \u03bb\u03cc\u03b3\u03bf\u03c2 \u03a9\u03bc\u03ad\u03b3\u03b1".split(),
    "arabic": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 "
              "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0643\u062a\u0627\u0628 "
              "\u0661\u0662\u0663".split(),
    "hebrew": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \u05e2\u05d1\u05e8\u05d9\u05ea "
              "\u05e1\u05e4\u05e8 \u05ea\u05d5\u05d3\u05d4".split(),
    "devanagari": "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e "
                  "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u0915\u094d\u0937\u0924\u094d\u0930\u093f\u092f "
                  "\u0967\u0968\u0969".split(),
    "cjk": "\u4f60\u597d \u4e16\u754c \u4e2d\u6587 \u5206\u8bcd\u5668 \u65e5\u672c\u8a9e "
           "\u3053\u3093\u306b\u3061\u306f \u30ab\u30bf\u30ab\u30ca \u6f22\u5b57 \u3002 \uff0c \u3001".split(),
    "thai": "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 "
            "\u0e04\u0e23\u0e31\u0e1a \u0e02\u0e2d\u0e1a\u0e04\u0e38\u0e13".split(),
    "korean": "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4 \ud55c\uad6d\uc5b4 \ud1a0\ud06c\ub098\uc774\uc800 \u1100\u1161".split(),
}
EMOJI = ["\U0001F600", "\U0001F389", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466",
         "\U0001F3F3\uFE0F\u200D\U0001F308", "\u2764\uFE0F", "\U0001F1E9\U0001F1EA", "\U0001F9D1\U0001F3FB\u200D\U0001F4BB",
         "\u263A", "\U0001F4A9", "\u2705", "\U0001FAE0", "#\uFE0F\u20E3"]
CODE = [
    "def f(x):\n    return x * 2  # double\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "if x != None and y >= 3: print(f\"{x!r}\")",
    "const std::vector<int32_t>& ids = tok->encode(text, true, false);",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
    "<div class=\"main\"><p>Hello</p></div>",
    "{\"key\": [1, 2.5, -3e10, null, true]}",
    "x = a[1:-1]; y = {k: v for k, v in d.items()}",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "git commit -m 'fix: off-by-one' && ./run.sh --flag=1",
    "   indented\n        more\n\t\ttabbed",
    "https://example.com/path?q=a+b&x=1#frag",
    "a_b_c __init__ CamelCase snake_case kebab-case SCREAMING_CASE",
]
CONTRACTIONS = ["I'm", "you're", "don't", "can't", "they've", "we'll", "he'd", "it's", "IT'S", "WE'LL", "O'Neil",
                "rock 'n' roll", "'tis", "y'all", "I'M", "You'Re", "'s", "''"]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t", "    \n", "\u00a0", "\u3000", "\u2009",
              " \t \n", "\n\n\n", "\v", "\f", "\r", "\u2028", "\u0085"]
SPECIALS = {
    "smollm2": ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>", "<|im_start|>user\n",
                "<|im_sta", "<|im_end|", "<|", "|>"],
    "gemma3": ["<start_of_turn>", "<end_of_turn>", "<bos>", "<eos>", "<pad>", "<start_of_image>", "<table>", "</td>",
               "<b>", "\n\n", "\t\t", "<unused7>", "<start_of_tur", "<end_of_turn"],
}
PUNCT = list(".,;:!?-()[]{}\"'`~@#$%^&*+=/\\|<>\u2014\u2026\u00ab\u00bb\u201c\u201d\u00bf\u00a1")


def rand_number(r):
    k = r.random()
    if k < 0.3:
        return str(r.randint(0, 999))
    if k < 0.5:
        return "".join(r.choice("0123456789") for _ in range(r.randint(4, 30)))
    if k < 0.7:
        return f"{r.uniform(-1e6, 1e6):.{r.randint(0, 6)}f}"
    if k < 0.85:
        return f"{r.randint(0, 10**9):,}"
    return f"{r.randint(1, 12)}/{r.randint(1, 28)}/{r.randint(1900, 2100)}"


def rand_unicode_char(r):
    # A codepoint from a varied set of blocks (no surrogates: strings must be valid Unicode).
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x52F), (0x590, 0x5FF),
              (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2000, 0x206F), (0x2190, 0x23FF),
              (0x2500, 0x27BF), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xE000, 0xE0FF),
              (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0x10000, 0x100FF), (0x20000, 0x2A6DF), (0xE0000, 0xE007F),
              (0x1, 0x1F), (0xFFF0, 0xFFFD)]
    lo, hi = r.choice(blocks)
    return chr(r.randint(lo, hi))


def rand_fragment(r, model):
    k = r.randrange(10)
    if k == 0:
        script = r.choice(list(WORDS))
        return " ".join(r.choice(WORDS[script]) for _ in range(r.randint(1, 6)))
    if k == 1:
        return r.choice(EMOJI)
    if k == 2:
        return r.choice(CODE)
    if k == 3:
        return r.choice(CONTRACTIONS)
    if k == 4:
        return r.choice(WHITESPACE) * r.randint(1, 3)
    if k == 5:
        return rand_number(r)
    if k == 6:
        return r.choice(SPECIALS[model]) if model in SPECIALS else r.choice(PUNCT)
    if k == 7:
        return "".join(rand_unicode_char(r) for _ in range(r.randint(1, 8)))
    if k == 8:
        return "".join(r.choice(PUNCT) for _ in range(r.randint(1, 4)))
    return " ".join(r.choice(WORDS["latin"]) for _ in range(r.randint(1, 8)))


def make_strings(model, n_random=1000):
    r = random.Random(f"{SEED}-{model}")
    out = ["", " ", "  ", "a", "Hello world", " Hello world", "Hello world ", "  leading and trailing  ",
           "\n", "\t", "\r\n", "1", "12", "123", "1234", "12345678901234567890", "3.14159", "-42",
           "I'm here, aren't you? They'll see we've won.", "HELLO WORLD", "hello\n\nworld\n", "x\ty\tz",
           "\u00e9", "e\u0301", "\u00f1 vs n\u0303", "\uFEFFbom", "\u200b\u200c\u200d", "\U0010FFFF", "\x00nul",
           "\u0000", "\x7f", "\u00ad",
           # Characters where regex engines' ideas of \s, \p{L} and \p{N} may differ.
           "a\u180eb", "a\u1680b", "a\u2007b", "a\u202fb", "a\u205fb", "a\u2060b", "a\ufeffb", "a\u200bb",
           "a \u0301b", " \u0301", "\u0301", "x\u0085 y", "\u2028\u2029", "\u00b2\u00b3\u00bd", "\u2160\u2161",
           "\u0966\u0967 \u0e51", "\u02b0\u02b1", "\u3005\u3006\u3007", "IV\u2163", "\U0001d400\U0001d7ce",
           "It\u2019s",
           # Canonical equivalence (NFC for Qwen2): decomposed, singleton, excluded, reordered, Hangul.
           "A\u030a \u212b \u00c5", "e\u0301\u0301", "a\u0323\u0307 a\u0307\u0323", "\u1e9b\u0323",
           "\u0958\u0959", "\u1100\u1161\u11a8 \uac00\u11a8", "\u0041\u0328\u0301", "o\u0308\u0304",
           "\u2126 \u212a \u1fed", "\u0f73 \u0f75", "\u05d0\u05b7\u05bc", "\u304b\u3099 \u30cf\u309a", "it's It's IT'S it\u2019S", "  'll", "'S'", "don''t", "\r\n\r\n  \r\n"]
    for script, words in WORDS.items():
        out.append(" ".join(words))
        out.append("".join(words))
    out += EMOJI + ["".join(EMOJI)] + CODE + CONTRACTIONS + WHITESPACE
    out += SPECIALS.get(model, [])
    for i in range(len(WHITESPACE)):
        out.append("a" + WHITESPACE[i] + "b")
        out.append(WHITESPACE[i] + "word" + WHITESPACE[i])
    for n in range(1, 40, 3):
        out.append(" " * n + "x")
        out.append("x" + " " * n)
        out.append("\n" * n)
    while len(out) < n_random + 150:
        s = "".join(rand_fragment(r, model) + r.choice(["", " ", "", "\n"]) for _ in range(r.randint(1, 6)))
        out.append(s)
    return out


def make_invalid(model):
    r = random.Random(f"{SEED}-{model}-bytes")
    cases = [b"\xff", b"\xc3", b"a\x80b", b"\xe2\x82", b"\xe2\x82x", b"\xf0\x9f\x98", b"\xf0\x9f\x98\x80\xff",
             b"\xed\xa0\x80", b"\xc0\xaf", b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"caf\xe9", b"\xfe\xfe\xff",
             b"ok \xc3\x28 ok", b"\xe0\x80\x80", b"\xef\xbf\xbf"]
    for _ in range(24):
        n = r.randint(1, 12)
        cases.append(bytes(r.randrange(256) for _ in range(n)) + "tail \u00e9".encode())
    return cases


# ---------------------------------------------------------------------------------------------
# reference tokenizers
def read_gguf_tokenizer(path):
    rd = gguf.GGUFReader(path)
    meta = {}
    for k, f in rd.fields.items():
        if not (k.startswith("tokenizer.") or k == "general.architecture"):
            continue
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            if f.types[1] == gguf.GGUFValueType.STRING:
                meta[k] = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            else:
                meta[k] = [f.parts[i].tolist()[0] for i in f.data]
        elif f.types[0] == gguf.GGUFValueType.STRING:
            meta[k] = bytes(f.parts[f.data[0]]).decode("utf-8")
        else:
            meta[k] = f.parts[f.data[0]].tolist()[0]
    return meta


def gguf_reference(path):
    meta = read_gguf_tokenizer(path)
    return reference_from_meta(meta), meta


def reference_from_meta(meta):
    from transformers.integrations.gguf import gguf_tokenizer_mapping as m
    arch = meta["general.architecture"]
    tdict = {name: meta[f"tokenizer.{key}"] for key, name in m.GGUF_TOKENIZER_MAPPING["tokenizer"].items()
             if f"tokenizer.{key}" in meta}
    builder = m.select_tokenizer_builder(arch, tdict.get("tokenizer_type"))
    tk = builder(tdict)
    tk = m.add_gguf_special_tokens(tk, tdict)
    tk = m.set_split_regex(tk, tdict)
    backend = tk.backend_tokenizer
    if tdict.get("pre_tokenizer_type") == "smollm":
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    add_bos = meta.get("tokenizer.ggml.add_bos_token", tdict.get("tokenizer_type") == "llama")
    add_eos = meta.get("tokenizer.ggml.add_eos_token", False)
    bos, eos = meta.get("tokenizer.ggml.bos_token_id"), meta.get("tokenizer.ggml.eos_token_id")
    single = ([f"{meta['tokenizer.ggml.tokens'][bos]}:0"] if add_bos else []) + ["$A:0"] + \
             ([f"{meta['tokenizer.ggml.tokens'][eos]}:0"] if add_eos else [])
    specials = []
    if add_bos:
        specials.append((meta["tokenizer.ggml.tokens"][bos], bos))
    if add_eos:
        specials.append((meta["tokenizer.ggml.tokens"][eos], eos))
    backend.post_processor = processors.TemplateProcessing(single=" ".join(single), special_tokens=specials)
    return backend


def cases_for(tok, strings, invalid):
    cases = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        c = {"text": s, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        sp = tok.encode(s, add_special_tokens=True).ids
        if sp != ids:
            c["ids_special"] = sp
        skip = tok.decode(ids, skip_special_tokens=True)
        if skip != c["decoded"]:
            c["decoded_skip"] = skip
        cases.append(c)
    for b in invalid:
        s = b.decode("utf-8", "replace")
        ids = tok.encode(s, add_special_tokens=False).ids
        c = {"bytes_hex": b.hex(), "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
        sp = tok.encode(s, add_special_tokens=True).ids
        if sp != ids:
            c["ids_special"] = sp
        cases.append(c)
    return cases


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(path)
    print(f"wrote {path} ({size / 1e6:.2f} MB)")
    assert size < 1.5e6, f"{path} is too big"


# ---------------------------------------------------------------------------------------------
# chat templates
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""
LLAMA3_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                   "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                   "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                   "{{ content }}{% endfor %}{% if add_generation_prompt %}"
                   "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
# Llama 3.1's template without its tool-calling branches (eft formats no tools).
LLAMA31_TEMPLATE = """{{- bos_token }}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""
QWEN2_TEMPLATE = ("{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + "
                  "'<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
                  "You are a helpful assistant.<|im_end|>\n' }}{%- endif %}{%- for message in messages %}"
                  "{%- if not (message.role == 'system' and loop.first) %}{{- '<|im_start|>' + message.role + '\n' + "
                  "message.content + '<|im_end|>' + '\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}"
                  "{{- '<|im_start|>assistant\n' }}{%- endif %}")

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "  Hi there \n"}, {"role": "assistant", "content": " Hello. How can I help? "},
     {"role": "user", "content": "Tell me a joke.\n\nA short one."}],
    [{"role": "system", "content": "Be kind.\n"}, {"role": "user", "content": "\u4f60\u597d \U0001F600"},
     {"role": "assistant", "content": "\u4f60\u597d\uff01"}, {"role": "user", "content": "Again"}],
]


def render(template, bos, add_gen, msgs):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=msgs, add_generation_prompt=add_gen, bos_token=bos, eos_token="")


def chat_cases(family, template, bos):
    out = []
    for msgs in CONVERSATIONS:
        for add_gen in (False, True):
            out.append({"messages": msgs, "add_generation_prompt": add_gen,
                        "text": render(template, bos, add_gen, msgs)})
    return {"family": family, "template": template, "bos_token": bos, "cases": out}


# ---------------------------------------------------------------------------------------------
# small HF tokenizer.json fixtures (Llama 3 / Qwen2 / GPT-2 layouts)
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def train_corpus():
    r = random.Random(f"{SEED}-corpus")
    lines = []
    for _ in range(3000):
        lines.append("".join(rand_fragment(r, "hf") + r.choice([" ", "", "\n"]) for _ in range(r.randint(1, 5))))
    return lines


def hf_fixture(layout, corpus):
    tok = Tokenizer(models.BPE(ignore_merges=(layout == "llama3")))
    if layout == "qwen2":  # as Qwen2's own tokenizer.json
        tok.normalizer = normalizers.NFC()
    if layout == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        from transformers.integrations.gguf import gguf_tokenizer_mapping as m
        pattern = {"llama3": LLAMA3_SPLIT, "qwen2": QWEN2_SPLIT, "tekken": m._TEKKEN_SPLIT,
                   "gpt4o": m._GPT4O_SPLIT}[layout]
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = {"llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                           "<|eot_id|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "tekken": ["<s>", "</s>"], "gpt4o": ["<|endoftext|>"],
                "gpt2": ["<|endoftext|>"]}[layout]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens([AddedToken("<think>", normalized=False, special=False)])
    if layout == "llama3":
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[
                ("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    js = json.loads(tok.to_str())
    if layout == "gpt2":  # the older "a b" merge spelling
        js["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in js["model"]["merges"]]
    return Tokenizer.from_str(json.dumps(js)), js


# ---------------------------------------------------------------------------------------------
# Unicode tables for NFC (Qwen2's tokenizer.json normalizer), from Python's unicodedata
def write_nfc_tables(path):
    import unicodedata as ud
    ccc_ranges = []  # (first, last, ccc)
    decomp = []      # (cp, a, b): canonical decomposition, one level; b = 0 for a singleton
    compose = []     # (a, b, composite): primary composites only
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:  # surrogates; Hangul syllables are algorithmic
            continue
        ch = chr(cp)
        c = ud.combining(ch)
        if c:
            if ccc_ranges and ccc_ranges[-1][1] == cp - 1 and ccc_ranges[-1][2] == c:
                ccc_ranges[-1][1] = cp
            else:
                ccc_ranges.append([cp, cp, c])
        d = ud.decomposition(ch)
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert len(parts) in (1, 2)
        decomp.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
        if len(parts) == 2 and ud.normalize("NFC", chr(parts[0]) + chr(parts[1])) == ch:
            compose.append((parts[0], parts[1], cp))
    compose.sort()
    # One file per table (combining classes, decompositions, compositions), a few entries a line.
    tables = [("unicode_ccc_data.cpp", "canonical combining classes", "CccRange", "kCcc",
               [(a, b, c) for a, b, c in ccc_ranges], "0x{:X}, 0x{:X}, {}"),
              ("unicode_decomp_data.cpp", "canonical decompositions (one level)", "Decomp", "kDecomp",
               decomp, "0x{:X}, 0x{:X}, 0x{:X}"),
              ("unicode_compose_data.cpp", "primary composites", "Compose", "kCompose",
               [(a, b, cp) for a, b, cp in compose], "0x{:X}, 0x{:X}, 0x{:X}")]
    for fname, what, ctype, var, rows, fmt in tables:
        with open(os.path.join(path, fname), "w") as f:
            f.write(f"// Unicode {what}, generated by tools/gen_tokenizer_golden.py --nfc-tables from\n")
            f.write(f"// Python's unicodedata (Unicode {ud.unidata_version}). Do not edit.\n")
            f.write('#include "tokenizer/unicode_nfc_data.h"\n\nnamespace eft::tok::nfc_data {\n\n')
            f.write(f"const {ctype} {var}[] = {{\n")
            for i in range(0, len(rows), 4):
                f.write("    " + " ".join("{" + fmt.format(*r) + "}," for r in rows[i:i + 4]) + "\n")
            f.write(f"}};\nconst size_t {var}Count = {len(rows)};\n\n}}  // namespace eft::tok::nfc_data\n")
    print(f"wrote {path}/unicode_*_data.cpp: {len(ccc_ranges)} ccc ranges, {len(decomp)} decompositions, {len(compose)} compositions")


def nfc_cases():
    """Strings dense in combining marks, decomposable and composable characters, with their NFC."""
    import unicodedata as ud
    r = random.Random(f"{SEED}-nfc")
    decomposable = [cp for cp in range(0x80, 0x30000) if not 0xD800 <= cp <= 0xDFFF
                    and ud.decomposition(chr(cp)) and not ud.decomposition(chr(cp)).startswith("<")]
    marks = [cp for cp in range(0x300, 0x30000) if not 0xD800 <= cp <= 0xDFFF and ud.combining(chr(cp))]
    bases = "aeiouAEIOUcnsyzkgh\u03b1\u03b9\u03c9\u0391\u0415\u0438\u0928\u304b\u30cf"
    out = []
    for _ in range(600):
        parts = []
        for _ in range(r.randint(1, 8)):
            k = r.randrange(6)
            if k == 0:
                parts.append(r.choice(bases))
            elif k == 1:
                parts.append(chr(r.choice(marks)))
            elif k == 2:
                parts.append(chr(r.choice(decomposable)))
            elif k == 3:
                parts.append(chr(0x1100 + r.randrange(19)) + chr(0x1161 + r.randrange(21)) +
                             (chr(0x11A8 + r.randrange(27)) if r.random() < 0.5 else ""))
            elif k == 4:
                parts.append(chr(0xAC00 + r.randrange(11172)) + (chr(0x11A8 + r.randrange(27)) if r.random() < .5 else ""))
            else:
                parts.append(ud.normalize("NFD", chr(r.choice(decomposable))))
        text = "".join(parts)
        out.append({"text": text, "nfc": ud.normalize("NFC", text)})
    return out


def spm_llama_fixture(gemma_meta, out_dir):
    """A Llama-2-style SentencePiece vocabulary (architecture "llama": merge order from the scores,
    a space prefix) cut from Gemma 3's: <unk> <s> </s>, the 256 byte tokens, a few control and
    user-defined tokens, and the ordinary pieces with ids below 4000 or of one character below U+3000 (others take the byte fallback). Scores are
    Gemma's plus noise, so that score order and id order differ."""
    r = random.Random(f"{SEED}-spm")
    toks, types, scores = (gemma_meta[f"tokenizer.ggml.{k}"] for k in ("tokens", "token_type", "scores"))
    new_toks, new_types, new_scores = ["<unk>", "<s>", "</s>"], [2, 3, 3], [0.0, 0.0, 0.0]
    for i, t in enumerate(toks):
        if types[i] == 6:
            new_toks.append(t), new_types.append(6), new_scores.append(0.0)
    for t, ty in (("<start_of_turn>", 3), ("<end_of_turn>", 3), ("<b>", 4), ("</b>", 4), ("\n\n", 4)):
        new_toks.append(t), new_types.append(ty), new_scores.append(-1000.0)
    for i, t in enumerate(toks):
        if types[i] == 1 and (i < 4000 or (len(t) == 1 and ord(t) < 0x3000)) and t not in new_toks:
            new_toks.append(t), new_types.append(1), new_scores.append(float(scores[i]) + r.uniform(-300, 300))
    meta = {"general.architecture": "llama", "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": new_toks,
            "tokenizer.ggml.token_type": new_types, "tokenizer.ggml.scores": new_scores,
            "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.unknown_token_id": 0,
            "tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.add_space_prefix": True}
    tok = reference_from_meta(meta)
    strings = make_strings("spm", 500) + ["<start_of_turn>user\nhi<end_of_turn>", "<b>bold</b>", "a\n\nb",
                                          " leading", "  two", "\u2581literal mark"]
    write_json(os.path.join(out_dir, "spm_llama.json"),
               {"meta": meta, "cases": cases_for(tok, strings, make_invalid("spm"))})
    spm_json_fixtures(meta, out_dir)


def spm_json_fixtures(meta, out_dir):
    """SentencePiece-style tokenizer.json files in four layouts, over a smaller cut of the vocabulary
    above (ids below 1500 of it, plus "\u2581" and its one-character pieces below U+0250), merges derived as
    transformers derives them: Llama (Metaspace prepend_scheme=first, decoder Strip), Llama legacy
    (normalizer Prepend + Replace), Metaspace with split=true and prepend_scheme=always, and Gemma
    (normalizer Replace, no prefix)."""
    from transformers import LlamaTokenizer, GemmaTokenizer
    from transformers.tokenization_utils_base import generate_merges
    toks, types, scores = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"], meta["tokenizer.ggml.scores"]
    keep = [i for i, t in enumerate(toks) if i < 1500 or (len(t) == 1 and (ord(t) < 0x250 or t == "\u2581"))]
    vocab = {toks[i]: n for n, i in enumerate(keep)}
    kept_scores = {toks[i]: scores[i] for i in keep}
    normal = {t: i for t, i in vocab.items() if types[keep[i]] in (1, 6)}
    merges = generate_merges(normal, {t: kept_scores[t] for t in normal})
    strings = make_strings("spm", 120) + ["<start_of_turn>user\nhi<end_of_turn>", "<b>bold</b> x", " leading",
                                          "\u2581literal", "a<s>b"]
    for layout in ("llama", "legacy", "split", "gemma"):
        cls = GemmaTokenizer if layout == "gemma" else LlamaTokenizer
        tk = cls(vocab=dict(vocab), merges=list(merges), unk_token="<unk>", bos_token="<s>", eos_token="</s>")
        backend = tk.backend_tokenizer
        backend.add_special_tokens([AddedToken(toks[keep[i]], normalized=False, special=True)
                                    for i in range(len(keep)) if types[keep[i]] == 3])
        backend.add_tokens([AddedToken(toks[keep[i]], normalized=False, special=False)
                            for i in range(len(keep)) if types[keep[i]] == 4])
        js = json.loads(backend.to_str())
        if layout == "legacy":
            js["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                    {"type": "Replace", "pattern": {"String": " "},
                                                                     "content": "\u2581"}]}
            js["pre_tokenizer"] = None
        if layout == "split":
            js["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                                   "split": True}
        bos = vocab["<s>"]
        js["post_processor"] = {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                "special_tokens": {"<s>": {"id": "<s>", "ids": [bos], "tokens": ["<s>"]}}}
        tok = Tokenizer.from_str(json.dumps(js))
        write_json(os.path.join(out_dir, f"hf_spm_{layout}.tokenizer.json"), js)
        write_json(os.path.join(out_dir, f"hf_spm_{layout}.json"),
                   {"tokenizer_json": f"hf_spm_{layout}.tokenizer.json",
                    "cases": cases_for(tok, strings, make_invalid("spm")[:10])})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nfc-tables", action="store_true", help="write src/tokenizer/unicode_{ccc,decomp,compose}_data.cpp and exit")
    ap.add_argument("--cache", default=os.path.expanduser(os.environ.get("EFT_CACHE", "~/.cache/eft")))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                  "fixtures", "tokenizer"))
    args = ap.parse_args()
    if args.nfc_tables:
        write_nfc_tables(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer"))
        return
    os.makedirs(args.out, exist_ok=True)

    models_ = {"smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf", "gemma3": "gemma-3-270m-q4_k_m.gguf"}
    for name, fname in models_.items():
        path = os.path.join(args.cache, fname)
        if not os.path.exists(path):
            print(f"skip {name}: {path} missing", file=sys.stderr)
            continue
        tok, meta = gguf_reference(path)
        if name == "gemma3":
            spm_llama_fixture(meta, args.out)
        strings = make_strings(name)
        cases = cases_for(tok, strings, make_invalid(name))
        write_json(os.path.join(args.out, f"{name}.json"),
                   {"model": fname, "reference": "transformers GGUF tokenizer conversion + tokenizers "
                    "(see tools/gen_tokenizer_golden.py)", "cases": cases})
        if name == "smollm2":
            chat = chat_cases("chatml", meta["tokenizer.chat_template"], "")
        else:
            chat = chat_cases("gemma", GEMMA3_TEMPLATE, "<bos>")
        write_json(os.path.join(args.out, f"{name}_chat.json"), chat)

    write_json(os.path.join(args.out, "llama3_chat.json"), chat_cases("llama3", LLAMA3_TEMPLATE, "<|begin_of_text|>"))
    write_json(os.path.join(args.out, "qwen2_chat.json"), chat_cases("chatml", QWEN2_TEMPLATE, ""))
    write_json(os.path.join(args.out, "llama31_chat.json"),
               chat_cases("llama3", LLAMA31_TEMPLATE, "<|begin_of_text|>"))

    write_json(os.path.join(args.out, "nfc.json"), {"unicode": __import__("unicodedata").unidata_version,
                                                     "cases": nfc_cases()})

    corpus = train_corpus()
    for layout in ("llama3", "qwen2", "gpt2", "tekken", "gpt4o"):
        tok, js = hf_fixture(layout, corpus)
        write_json(os.path.join(args.out, f"hf_{layout}.tokenizer.json"), js)
        strings = make_strings("hf", 300 if layout in ("llama3", "qwen2", "gpt2") else 150)
        strings += ["<|begin_of_text|>hi<|eot_id|>", "<|im_start|>user\nhi<|im_end|>", "a<think>b</think>",
                    "<|endoftext|>", "\U0001F600\U0001F600 \u4f60\u597d"]
        write_json(os.path.join(args.out, f"hf_{layout}.json"),
                   {"tokenizer_json": f"hf_{layout}.tokenizer.json", "cases": cases_for(tok, strings,
                                                                                         make_invalid("hf"))})


if __name__ == "__main__":
    main()
