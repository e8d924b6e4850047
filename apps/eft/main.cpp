// eft — the command-line front end. Subcommands register themselves in commands.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "eft/error.h"
#include "eft/parallel.h"

int main(int argc, char** argv) {
  CLI::App app{"eft: an efficient-transformer inference engine"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (default: EFT_THREADS or all cores)");
  CLI11_PARSE(app, argc, argv);
  return 0;
}
