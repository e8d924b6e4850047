#pragma once
// Command-line options shared by `eft run` and `eft chat`: sampling and the attention method.
// They bind straight to SamplerParams, so each command only chooses its defaults.
#include <CLI/CLI.hpp>
#include <string>

#include "eft/sampler.h"

namespace eft::cli {

inline void add_sampler_options(CLI::App* sc, SamplerParams& s) {
  sc->add_option("--temp", s.temperature, "temperature (0 = greedy)")->check(CLI::Range(0.0, 100.0));
  sc->add_option("--top-k", s.top_k, "top-k (0 = off)")->check(CLI::Range(0, 1 << 24));
  sc->add_option("--top-p", s.top_p, "top-p (1 = off)")->check(CLI::Range(0.0, 1.0));
  sc->add_option("--min-p", s.min_p, "min-p (0 = off)")->check(CLI::Range(0.0, 1.0));
  sc->add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty (1 = off)")
      ->check(CLI::Range(0.0, 100.0));
  sc->add_option("--seed", s.seed, "sampling seed");
}

inline void add_attention_option(CLI::App* sc, std::string& method) {
  sc->add_option("--attention", method, "attention method: standard | flash | sparse | linear")
      ->check(CLI::IsMember({"standard", "flash", "sparse", "linear"}));
}

}  // namespace eft::cli
