#pragma once
// One error convention for the whole engine: throw eft::Error with a message that names the bad
// file, field or value. Callers that can recover catch eft::Error; nothing else is thrown on bad input.
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace eft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Raised when a fixed pool (KV blocks, workspace) has no room; callers may handle it (e.g. preempt).
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// check(cond, "q_heads ({}) must be a multiple of kv_heads ({})", qh, kvh);
template <typename... Args>
inline void check(bool cond, fmt::format_string<Args...> f, Args&&... args) {
  if (!cond) [[unlikely]] throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace eft
