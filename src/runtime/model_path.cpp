// Where the default model comes from when `eft run` is given no -m.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "eft/engine.h"
#include "eft/error.h"

namespace eft {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultFile = "SmolLM2-135M-Instruct.Q4_1.gguf";

fs::path cache_dir() {
  if (const char* c = std::getenv("EFT_CACHE"); c && *c) return c;
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/tmp") / ".cache" / "eft";
}

// Candidate locations of tools/fetch_models.sh, most explicit first.
std::vector<fs::path> script_candidates() {
  std::vector<fs::path> c;
  if (const char* r = std::getenv("EFT_ROOT"); r && *r) c.push_back(fs::path(r) / "tools" / "fetch_models.sh");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)  // build-dir/eft → repo/tools; also one level deeper (build-dir/apps/eft)
    for (fs::path d = exe.parent_path(); !d.empty() && d != d.root_path(); d = d.parent_path()) {
      c.push_back(d / "tools" / "fetch_models.sh");
      if (c.size() > 6) break;
    }
  // This source file's own tree (src/runtime/ → repo root): works for any build of a checkout.
  c.push_back(fs::path(__FILE__).parent_path().parent_path().parent_path() / "tools" / "fetch_models.sh");
  return c;
}

}  // namespace

std::string default_model_path() {
  const fs::path cached = cache_dir() / kDefaultFile;
  if (fs::exists(cached)) return cached.string();
  std::string tried;
  for (const fs::path& s : script_candidates()) {
    if (!fs::exists(s)) {
      tried += "\n  " + s.string();
      continue;
    }
    std::fprintf(stderr, "eft: %s not cached; fetching it with %s\n", kDefaultFile, s.c_str());
    const std::string cmd = "bash '" + s.string() + "' smollm2";
    FILE* p = popen(cmd.c_str(), "r");
    check(p != nullptr, "could not run {}", cmd);
    std::string out, last;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), int(buf.size()), p)) out += buf.data();
    const int rc = pclose(p);
    check(rc == 0, "{} failed (exit status {})", cmd, rc);
    // The script prints the model's path on its last line.
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    last = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    check(fs::exists(last), "{} printed '{}', which is not a file", cmd, last);
    return last;
  }
  fail("no model given (-m), {} is not in {}, and tools/fetch_models.sh was not found; tried:{}\n"
       "set EFT_ROOT to the eft checkout or pass -m MODEL",
       kDefaultFile, cache_dir().string(), tried);
}

}  // namespace eft
