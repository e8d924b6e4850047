// Chat templates of the supported families, written out per family (not a Jinja engine). Each
// reproduces the text its HF template renders; tests/fixtures/tokenizer/*_chat.json hold those
// renderings (tools/gen_tokenizer_golden.py).
#include <algorithm>
#include <ctime>

#include "eft/error.h"
#include "eft/model_file.h"
#include "eft/tokenizer.h"
#include "tokenizer/meta.h"

namespace eft {
namespace {

// Jinja's |trim: strips whitespace at both ends (Python str.strip; ASCII whitespace is what
// matters for chat text).
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\v\f";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string unescape(const std::string& body);

// The system prompt a ChatML template writes when the conversation has none, e.g. SmolLM2's
// "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM...<|im_end|>\n' }}" and
// Qwen2.5's "You are Qwen, created by Alibaba Cloud...". Found as a literal between
// "<|im_start|>system\n" (or its escaped "\\n" spelling) and "<|im_end|>" with no template code inside.
std::string chatml_default_system(const std::string& tmpl) {
  for (const std::string head : {"<|im_start|>system\n", "<|im_start|>system\\n"}) {
    size_t pos = 0;
    while ((pos = tmpl.find(head, pos)) != std::string::npos) {
      const size_t start = pos + head.size();
      const size_t end = tmpl.find("<|im_end|>", start);
      if (end == std::string::npos) break;
      std::string body = tmpl.substr(start, end - start);
      const bool literal = body.find_first_of("'\"{}+") == std::string::npos && !body.empty();
      if (literal) return unescape(body);
      pos = start;
    }
  }
  return {};
}

// Undo the escapes of a Jinja string literal ("\\n" -> newline).
std::string unescape(const std::string& body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\\' && i + 1 < body.size()) {
      const char c = body[++i];
      out.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
    } else {
      out.push_back(body[i]);
    }
  }
  return out;
}

// Gemma 3's template joins the system text to the first user message with '\n\n'; some converted
// files write '\n'. Read the literal after "first_user_prefix = messages[0]['content'] + ".
std::string gemma_system_separator(const std::string& tmpl) {
  const std::string key = "first_user_prefix = messages[0]['content'] + ";
  const size_t at = tmpl.find(key);
  if (at == std::string::npos || at + key.size() >= tmpl.size()) return "\n\n";
  const char quote = tmpl[at + key.size()];
  if (quote != '\'' && quote != '"') return "\n\n";
  const size_t start = at + key.size() + 1, end = tmpl.find(quote, start);
  if (end == std::string::npos) return "\n\n";
  return unescape(tmpl.substr(start, end - start));
}

std::string piece_or(const tok::Meta& m, const char* id_key, const std::string& fallback) {
  if (!m.has(id_key) || !m.has("tokenizer.ggml.tokens")) return fallback;
  const auto& toks = m.strings("tokenizer.ggml.tokens");
  const int64_t id = m.integer(id_key);
  return id >= 0 && id < static_cast<int64_t>(toks.size()) ? toks[id] : fallback;
}

}  // namespace

ChatFamily chat_family(const ModelFile& f) {
  const tok::Meta m(f);
  const std::string tmpl = m.string_or("tokenizer.chat_template", "");
  // The template's own markers decide first: they say what the model was tuned on.
  if (tmpl.find("<|im_start|>") != std::string::npos) return ChatFamily::ChatML;
  if (tmpl.find("<start_of_turn>") != std::string::npos) return ChatFamily::Gemma;
  if (tmpl.find("<|start_header_id|>") != std::string::npos) return ChatFamily::Llama3;
  const std::string arch = m.string_or("general.architecture", "");
  if (arch.rfind("gemma", 0) == 0) return ChatFamily::Gemma;
  if (arch.rfind("qwen", 0) == 0) return ChatFamily::ChatML;
  // Without a template, a vocabulary with the family's marker tokens tells.
  if (m.has("tokenizer.ggml.tokens")) {
    const auto& toks = m.strings("tokenizer.ggml.tokens");
    const auto has = [&](const char* t) { return std::find(toks.begin(), toks.end(), t) != toks.end(); };
    if (has("<|im_start|>")) return ChatFamily::ChatML;
    if (has("<|start_header_id|>")) return ChatFamily::Llama3;
    if (has("<start_of_turn>")) return ChatFamily::Gemma;
  }
  fail("{}: cannot tell the chat template family (tokenizer.chat_template has no ChatML, Gemma or Llama 3 "
       "markers; general.architecture = '{}')",
       m.file, arch);
}

std::string apply_chat_template(const ModelFile& f, const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  const tok::Meta m(f);
  ChatTemplateParams p;
  p.family = chat_family(f);
  switch (p.family) {
    case ChatFamily::ChatML:
      p.default_system = chatml_default_system(m.string_or("tokenizer.chat_template", ""));
      break;
    case ChatFamily::Gemma:
      p.bos_text = piece_or(m, "tokenizer.ggml.bos_token_id", "<bos>");
      p.system_separator = gemma_system_separator(m.string_or("tokenizer.chat_template", ""));
      break;
    case ChatFamily::Llama3: {
      p.bos_text = piece_or(m, "tokenizer.ggml.bos_token_id", "<|begin_of_text|>");
      const std::string tmpl = m.string_or("tokenizer.chat_template", "");
      p.llama_dated_system = tmpl.find("Cutting Knowledge Date") != std::string::npos;
      // Llama 3.2's template asks for today's date (strftime_now "%d %b %Y") where the caller gives none;
      // Llama 3.1's falls back to a fixed date.
      if (tmpl.find("strftime_now") != std::string::npos) {
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[32];
        if (std::strftime(buf, sizeof buf, "%d %b %Y", &tm) > 0) p.date_string = buf;
      }
      break;
    }
  }
  return apply_chat_template(p, msgs, add_generation_prompt);
}

std::string apply_chat_template(const ChatTemplateParams& p, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt) {
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& r = msgs[i].role;
    check(r == "system" || r == "user" || r == "assistant",
          "chat template: message {} has role '{}' (expected system, user or assistant)", i, r);
  }
  std::string out;
  switch (p.family) {
    case ChatFamily::ChatML: {
      // <|im_start|>role\ncontent<|im_end|>\n per message, content as given (no trimming); the
      // template's default system prompt when the conversation does not start with one.
      if (!p.default_system.empty() && (msgs.empty() || msgs[0].role != "system"))
        out += "<|im_start|>system\n" + p.default_system + "<|im_end|>\n";
      for (const auto& msg : msgs) out += "<|im_start|>" + msg.role + "\n" + msg.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case ChatFamily::Gemma: {
      // Gemma has no system role: a leading system message becomes the start of the first user
      // turn, followed by a blank line. The assistant's role is "model"; contents are trimmed.
      out += p.bos_text;
      size_t first = 0;
      std::string prefix;
      if (!msgs.empty() && msgs[0].role == "system") {
        prefix = msgs[0].content + p.system_separator;
        first = 1;
      }
      for (size_t i = first; i < msgs.size(); ++i) {
        check(msgs[i].role != "system", "chat template (Gemma): a system message may only come first (message {})", i);
        const std::string role = msgs[i].role == "assistant" ? "model" : msgs[i].role;
        out += "<start_of_turn>" + role + "\n" + (i == first ? prefix : std::string()) + trim(msgs[i].content) +
               "<end_of_turn>\n";
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      break;
    }
    case ChatFamily::Llama3: {
      // BOS, then <|start_header_id|>role<|end_header_id|>\n\n + trimmed content + <|eot_id|>.
      size_t first = 0;
      if (p.llama_dated_system) {
        // 3.1 / 3.2: the system turn always comes, dated; a leading system message is its text.
        std::string system;
        if (!msgs.empty() && msgs[0].role == "system") system = trim(msgs[0].content), first = 1;
        out += p.bos_text + "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n" +
               "Today Date: " + p.date_string + "\n\n" + system + "<|eot_id|>";
      }
      for (size_t i = first; i < msgs.size(); ++i) {
        if (i == 0 && !p.llama_dated_system) out += p.bos_text;
        out += "<|start_header_id|>" + msgs[i].role + "<|end_header_id|>\n\n" + trim(msgs[i].content) + "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    }
  }
  return out;
}

}  // namespace eft
