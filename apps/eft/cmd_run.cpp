// `eft run`: generate text from a model and print the numbers afterwards.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "load_progress.h"
#include "sampling_options.h"
#include "eft/engine.h"
#include "eft/error.h"
#include "eft/model_file.h"
#include "eft/parallel.h"
#include "eft/tokenizer.h"

namespace eft::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  int32_t n = 128;
  SamplerParams sampling;  // defaults: greedy
  std::string attention = "flash";
  bool no_kv_cache = false;
  int32_t block_size = 16;
  bool chat = false;
  std::vector<std::string> stop;
  std::string kv_dtype = "f32";
  std::string matmul = "auto";
};

std::string mib(int64_t b) { return fmt::format("{:.1f} MiB", double(b) / (1024.0 * 1024.0)); }

void print_stats(const GenerateStats& s, const std::string& method, bool cache) {
  std::fprintf(stderr,
               "\n--\n"
               "prompt:     %d tokens in %.3f s = %.1f tok/s (CPU %.3f s)\n"
               "generation: %d tokens in %.3f s = %.1f tok/s (CPU %.3f s; after the first; stop: %s)\n"
               "time to first token: %.3f s   attention: %s   KV cache: %s   threads: %d\n"
               "memory: weights %s, KV cache %s (%s in use; %s/token), workspace %s\n",
               s.prompt_tokens, s.prompt_seconds, s.prompt_tok_per_s(), s.prompt_cpu_seconds, s.generated_tokens,
               s.generate_seconds, s.gen_tok_per_s(), s.generate_cpu_seconds, s.stop_reason.c_str(), s.ttft_seconds, method.c_str(),
               cache ? "on" : "off (prefix recomputed every step)", num_threads(), mib(s.weights_bytes).c_str(),
               mib(s.kv_cache_bytes).c_str(), mib(s.kv_used_bytes).c_str(), fmt::format("{:.1f} KiB", s.kv_bytes_per_token / 1024.0).c_str(),
               mib(s.workspace_bytes).c_str());
}

void run(const RunArgs& a) {
  const std::string path = a.model.empty() ? default_model_path() : a.model;
  std::shared_ptr<ModelFile> file(open_model_file(path));
  std::fprintf(stderr, "eft: loading %s\n", path.c_str());
  load_with_progress(*file);
  auto model = Model::load(file);
  auto tok = load_tokenizer(*file);
  const ModelConfig& c = model->config();
  std::fprintf(stderr, "eft: %s, %d layers, hidden %d, heads %d (kv %d), vocab %d\n", c.arch.c_str(), c.n_layers,
               c.hidden, c.n_heads, c.n_kv_heads, c.vocab);

  GenerateOptions o;
  o.max_tokens = a.n;
  o.sampling = a.sampling;
  o.stop_strings = a.stop;
  o.use_kv_cache = !a.no_kv_cache;
  o.block_size = a.block_size;
  o.kv_dtype = dtype_from_name(a.kv_dtype);
  o.forward.method = method_from_name(a.attention);
  o.forward.matmul = a.matmul == "dot" ? MatmulPath::dot : a.matmul == "sgemm" ? MatmulPath::sgemm : MatmulPath::automatic;
  if (o.forward.method == AttnMethod::linear)
    std::fprintf(stderr,
                 "eft: warning: --attention linear (Performer FAVOR+) only approximates softmax attention and this "
                 "model was not trained with it: expect degraded text%s\n",
                 c.layer_window.empty() || *std::max_element(c.layer_window.begin(), c.layer_window.end()) == 0
                     ? ""
                     : "; its sliding-window layers attend to the whole prefix (linear supports causal masks only)");

  std::string prompt = a.prompt;
  if (a.chat) {
    prompt = apply_chat_template(*file, {{"user", a.prompt}}, true);
    // The template may already start with the BOS token's text; do not add a second one.
    if (tok->bos() >= 0 && prompt.rfind(tok->token_text(tok->bos()), 0) == 0) o.add_special = false;
  }
  Generator gen(*model, tok.get());
  if (!a.chat) std::fputs(a.prompt.c_str(), stdout);
  const GenerateStats s = gen.generate(prompt, o, [](const std::string& t) {
    std::fputs(t.c_str(), stdout);
    std::fflush(stdout);
  });
  std::fputs("\n", stdout);
  std::fflush(stdout);
  print_stats(s, a.attention, o.use_kv_cache);
}

void add_generation_options(CLI::App* sc, RunArgs& a) {
  sc->add_option("-n,--n-predict", a.n, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  add_sampler_options(sc, a.sampling);
  add_attention_option(sc, a.attention);
  sc->add_flag("--no-kv-cache", a.no_kv_cache, "recompute the whole prefix at every step (the baseline)");
  sc->add_option("--block-size", a.block_size, "KV cache block size in tokens")->check(CLI::Range(1, 4096));
  sc->add_option("--kv-dtype", a.kv_dtype, "KV cache element type: f32 | f16 | bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  sc->add_option("--stop", a.stop, "stop string (repeatable)");
  sc->add_option("--matmul", a.matmul,
                 "matrix products: auto (int8-activation dot kernels for decode, sgemm for prefill) | dot | "
                 "sgemm (exact f32 products, slower decode)")
      ->check(CLI::IsMember({"auto", "dot", "sgemm"}));
}

CommandRegistrar reg([](CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* sc = app.add_subcommand("run", "generate text from a model (default: SmolLM2-135M-Instruct)");
  sc->add_option("-m,--model", a->model, "GGUF file, safetensors file or directory (default: fetched SmolLM2)");
  sc->add_option("-p,--prompt", a->prompt, "prompt text")->required();
  sc->add_flag("--chat", a->chat, "wrap the prompt in the model's chat template as one user turn");
  add_generation_options(sc, *a);
  sc->callback([a] { run(*a); });
});

}  // namespace
}  // namespace eft::cli
