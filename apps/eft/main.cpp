// eft — the command-line front end. Subcommands live in cmd_*.cpp and register themselves.
#include <cstdio>

#include "commands.h"
#include "eft/error.h"
#include "eft/parallel.h"

namespace eft::cli {
std::vector<Registration>& registry() {
  static std::vector<Registration> r;
  return r;
}
}  // namespace eft::cli

int main(int argc, char** argv) {
  CLI::App app{"eft: an efficient-transformer inference engine"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (default: EFT_THREADS or all cores)")
      ->each([](const std::string& v) { eft::set_num_threads(std::stoi(v)); });
  for (auto& reg : eft::cli::registry()) reg(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const eft::Error& e) {
    std::fprintf(stderr, "eft: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
