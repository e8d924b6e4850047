#pragma once
// Tokenizers built from GGUF metadata (tokenizer.ggml.*) or HF tokenizer.json. Streaming decode
// never emits a broken UTF-8 sequence.
//
// Supported: byte-level BPE (GGUF tokenizer.ggml.model "gpt2": GPT-2, Llama 3, Qwen2, SmolLM2;
// tokenizer.json BPE with a ByteLevel pre-tokenizer, NFC normalizer allowed) and SentencePiece-style
// BPE with byte fallback (GGUF "llama" with scores: Llama 2, Gemma; tokenizer.json with Metaspace
// or Replace/Prepend "▁" normalizers: Llama 2, Mistral, Gemma layouts). Encodings match the HF
// tokenizers library (tests/fixtures/tokenizer, made by tools/gen_tokenizer_golden.py).
//
// Where the HF conversion of a GGUF departs from the model's own tokenizer.json, eft follows the
// model's own: tokenizer.ggml.pre "smollm" splits digits one by one, "llama-bpe" takes whole words
// found in the vocabulary (ignore_merges), "qwen2" normalizes to NFC. Gemma's merge order is its
// vocabulary order (its scores are placeholders on some pieces), other SentencePiece models' is by
// score. A byte with no token and no byte fallback / unknown token is dropped, as HF does.
//
// Invalid UTF-8 given to encode() is first repaired the way Python's
// bytes.decode("utf-8", "replace") does (each maximal ill-formed subpart -> U+FFFD), because the
// reference only accepts valid Unicode; decode() repairs the same way (HF uses from_utf8_lossy).
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
  // User-defined (non-special) added tokens are recognized either way, as HF and llama.cpp do.
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special, bool parse_special) const = 0;
  // Throws eft::Error for an id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;
  virtual std::string token_text(int32_t id) const = 0;  // raw piece, for debugging
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos() const = 0;  // -1 if none
  virtual int32_t eos() const = 0;  // -1 if none
  virtual std::vector<int32_t> stop_tokens() const = 0;  // eos, eot, im_end ... as the model defines
  virtual bool is_special(int32_t id) const = 0;
  // The bytes this token adds to decoded text: possibly part of a UTF-8 character, so not
  // necessarily valid UTF-8 on its own. `first`: the token starts the text (SentencePiece models
  // with a space prefix drop it there). The default decodes the token alone.
  virtual std::string token_bytes(int32_t id, bool skip_special = false, bool first = false) const;
  // Looks a piece up by its text as token_text() spells it; -1 when absent.
  virtual int32_t find_token(const std::string& piece) const { return -1; }
};

std::unique_ptr<Tokenizer> tokenizer_from_model_file(const ModelFile& f);
std::unique_ptr<Tokenizer> tokenizer_from_hf_json(const std::string& tokenizer_json_path);

// Incremental detokenizer: push ids, get back only complete UTF-8 text. The concatenation of all
// push() results and flush() equals tok.decode(all ids, skip_special): bytes that can never become
// valid UTF-8 turn into U+FFFD as soon as that is certain, an unfinished sequence waits.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& t, bool skip_special = false) : tok_(t), skip_special_(skip_special) {}
  std::string push(int32_t id);  // text that became complete with this token
  std::string flush();           // whatever is left (invalid bytes replaced by U+FFFD)
  void reset() { pending_.clear(), first_ = true; }

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;  // bytes not yet emitted: an unfinished UTF-8 sequence
};

// Chat templates of the supported families, selected from the model's metadata
// (tokenizer.chat_template / architecture): Gemma, ChatML (Qwen, SmolLM), Llama 3.
// The result is exactly the text the model's HF Jinja template renders, including a leading BOS
// token text where the template writes one (Gemma "<bos>", Llama 3 "<|begin_of_text|>"): encode it
// with add_special = false and parse_special = true.
struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};
enum class ChatFamily { ChatML, Gemma, Llama3 };
// Throws naming the file when the family cannot be told from the metadata.
ChatFamily chat_family(const ModelFile& f);
std::string apply_chat_template(const ModelFile& f, const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

struct ChatTemplateParams {
  ChatFamily family = ChatFamily::ChatML;
  std::string bos_text;               // Gemma / Llama 3: the BOS token's text
  std::string default_system;         // ChatML: system prompt used when the conversation has none ("" = none)
  std::string system_separator = "\n\n";  // Gemma: between the system text and the first user message
  // Llama 3.1 / 3.2 templates always open with a system turn stating the knowledge cutoff and a
  // date ("Cutting Knowledge Date: December 2023\nToday Date: <date_string>\n\n" + system text).
  bool llama_dated_system = false;
  std::string date_string = "26 Jul 2024";  // the templates' own default
};
std::string apply_chat_template(const ChatTemplateParams& p, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt);

}  // namespace eft
