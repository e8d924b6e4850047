#pragma once
// Tokenizers built from GGUF metadata (tokenizer.ggml.*) or HF tokenizer.json. Streaming decode
// never emits a broken UTF-8 sequence.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace eft {

class ModelFile;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // add_special: prepend BOS (and whatever the model's rules add) as the model expects.
  // parse_special: recognize special/added tokens written in the text (e.g. "<|im_start|>").
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special, bool parse_special) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;
  virtual std::string token_text(int32_t id) const = 0;  // raw piece, for debugging
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos() const = 0;  // -1 if none
  virtual int32_t eos() const = 0;  // -1 if none
  virtual std::vector<int32_t> stop_tokens() const = 0;  // eos, eot, im_end ... as the model defines
  virtual bool is_special(int32_t id) const = 0;
};

std::unique_ptr<Tokenizer> tokenizer_from_model_file(const ModelFile& f);
std::unique_ptr<Tokenizer> tokenizer_from_hf_json(const std::string& tokenizer_json_path);

// Incremental detokenizer: push ids, get back only complete UTF-8 text.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& t) : tok_(t) {}
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is left (invalid bytes replaced by U+FFFD)

 private:
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t emitted_bytes_ = 0;
};

// Chat templates of the supported families, selected from the model's metadata
// (tokenizer.chat_template / architecture): Gemma, ChatML (Qwen, SmolLM), Llama 3.
struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};
std::string apply_chat_template(const ModelFile& f, const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

}  // namespace eft
