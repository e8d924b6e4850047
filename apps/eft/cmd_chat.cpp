// `eft chat`: an interactive conversation through the model's chat template. Each turn renders the
// whole conversation and generates the assistant's reply until the template's end-of-turn token.
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "load_progress.h"
#include "sampling_options.h"
#include "eft/engine.h"
#include "eft/error.h"
#include "eft/model_file.h"
#include "eft/tokenizer.h"

namespace eft::cli {
namespace {

// A chat wants varied replies: sample rather than decode greedily.
SamplerParams chat_sampling() {
  SamplerParams s;
  s.temperature = 0.7f;
  s.top_k = 40;
  s.top_p = 0.95f;
  s.min_p = 0.05f;
  s.repetition_penalty = 1.1f;
  return s;
}

struct ChatArgs {
  std::string model;
  std::string system;
  int32_t n = 512;
  SamplerParams sampling = chat_sampling();
  std::string attention = "flash";
  bool stats = false;
};

void chat(const ChatArgs& a) {
  const std::string path = a.model.empty() ? default_model_path() : a.model;
  std::shared_ptr<ModelFile> file(open_model_file(path));
  load_with_progress(*file);
  auto model = Model::load(file);
  auto tok = load_tokenizer(*file);
  Generator gen(*model, tok.get());
  GenerateOptions o;
  o.max_tokens = a.n;
  o.sampling = a.sampling;
  o.forward.method = method_from_name(a.attention);
  o.reuse_prefix = true;  // each turn prefills only what the cache does not hold yet
  std::vector<ChatMessage> msgs;
  if (!a.system.empty()) msgs.push_back({"system", a.system});
  std::fprintf(stderr, "eft chat: %s (%s). Type a message; an empty line or EOF ends.\n", path.c_str(),
               model->config().arch.c_str());
  std::string line;
  while (true) {
    std::fputs("> ", stderr);
    if (!std::getline(std::cin, line) || line.empty()) break;
    msgs.push_back({"user", line});
    const std::string prompt = apply_chat_template(*file, msgs, true);
    o.add_special = !(tok->bos() >= 0 && prompt.rfind(tok->token_text(tok->bos()), 0) == 0);
    std::string reply;
    const GenerateStats s = gen.generate(prompt, o, [&](const std::string& t) {
      reply += t;
      std::fputs(t.c_str(), stdout);
      std::fflush(stdout);
    });
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (a.stats)
      std::fprintf(stderr,
                   "[%d prompt tokens (%d reused from the KV cache) in %.3f s, %d generated %.1f tok/s, first token "
                   "%.3f s]\n",
                   s.prompt_tokens, s.reused_tokens, s.prompt_seconds, s.generated_tokens, s.gen_tok_per_s(),
                   s.ttft_seconds);
    msgs.push_back({"assistant", reply});
    o.sampling.seed += 1;  // a fresh draw each turn, still reproducible from --seed
  }
}

CommandRegistrar reg([](CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* sc = app.add_subcommand("chat", "interactive chat with the model's chat template");
  sc->add_option("-m,--model", a->model, "model file (default: fetched SmolLM2-135M-Instruct)");
  sc->add_option("--system", a->system, "system message");
  sc->add_option("-n,--n-predict", a->n, "most tokens per reply")->check(CLI::Range(1, 1 << 20));
  add_sampler_options(sc, a->sampling);
  add_attention_option(sc, a->attention);
  sc->add_flag("--stats", a->stats, "print tok/s after each reply");
  sc->callback([a] { chat(*a); });
});

}  // namespace
}  // namespace eft::cli
