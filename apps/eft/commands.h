#pragma once
// Subcommands register themselves: each cmd_*.cpp defines a static CommandRegistrar that adds its
// CLI11 subcommand, so adding a command means adding one file.
#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace eft::cli {

using Registration = std::function<void(CLI::App& app)>;
std::vector<Registration>& registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Registration r) { registry().push_back(std::move(r)); }
};

}  // namespace eft::cli
