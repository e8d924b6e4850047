// The fixtures written by tools/gen_loader_fixtures.py: every GGUF value type, every supported
// tensor type, alignment, safetensors single / sharded / directory with config.json.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <sstream>

#include "eft/error.h"
#include "eft/model_file.h"

using namespace eft;

namespace {
std::string fx(const std::string& name) { return std::string(EFT_FIXTURES_DIR) + "/loader/" + name; }
template <class T>
const std::vector<T>& arr(const ModelFile& f, const std::string& k) {
  return std::get<std::vector<T>>(f.get_array(k));
}
}  // namespace

TEST(Fixtures, GgufMetadataOfEveryValueType) {
  auto f = open_model_file(fx("tiny.gguf"));
  EXPECT_EQ(f->format(), "gguf");
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("test.u8"), 200);
  EXPECT_EQ(f->get_int("test.i8"), -100);
  EXPECT_EQ(f->get_int("test.u16"), 60000);
  EXPECT_EQ(f->get_int("test.i16"), -30000);
  EXPECT_EQ(f->get_int("test.u32"), 4000000000);
  EXPECT_EQ(f->get_int("test.i32"), -2000000000);
  EXPECT_EQ(f->get_float("test.f32"), 0.5);
  EXPECT_EQ(f->get_bool("test.bool"), true);
  EXPECT_EQ(std::get<uint64_t>(f->metadata().at("test.u64").v), 18446744073709551615ull);
  EXPECT_THROW(f->get_int("test.u64"), Error);  // does not fit int64: refused, not wrapped
  EXPECT_EQ(f->get_int("test.i64"), -9000000000000000000);
  EXPECT_EQ(f->get_float("test.f64"), -2.25);
  EXPECT_EQ(arr<int64_t>(*f, "test.arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(arr<int64_t>(*f, "test.arr_u8"), (std::vector<int64_t>{255, 0}));
  EXPECT_EQ(arr<double>(*f, "test.arr_f32"), (std::vector<double>{0.5, -1.5}));
  EXPECT_EQ(arr<std::string>(*f, "test.arr_str"), (std::vector<std::string>{"a", "", "h\xc3\xa9llo"}));
  EXPECT_EQ(arr<bool>(*f, "test.arr_bool"), (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(arr<int64_t>(*f, "test.arr_empty").empty());
  EXPECT_EQ(f->get_int_or("absent", 7), 7);
  EXPECT_EQ(meta_type_name(f->metadata().at("test.arr_str")), "string array");
  try {
    f->get_string("test.u8");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("test.u8"), std::string::npos) << m;
    EXPECT_NE(m.find("tiny.gguf"), std::string::npos) << m;
  }
}

TEST(Fixtures, GgufTensorsOfEverySupportedType) {
  auto f = open_model_file(fx("tiny.gguf"));
  ASSERT_EQ(f->tensors().size(), std::size(kAllQTypes));
  for (QType t : kAllQTypes) {
    const TensorInfo& ti = f->get("t." + std::string(qtype_name(t)));
    EXPECT_EQ(ti.type, t);
    const int64_t be = qtype_block_elems(t);
    const std::vector<int64_t> want = be == 256 ? std::vector<int64_t>{2, 256}
                                       : be == 32 ? std::vector<int64_t>{3, 32} : std::vector<int64_t>{2, 5};
    EXPECT_EQ(ti.shape, want) << ti.name;
    EXPECT_EQ(ti.nbytes, qtype_row_bytes(t, ti.cols()) * size_t(ti.rows()));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ti.data) % 32, 0u) << "GGUF data is aligned";
    std::vector<float> v(size_t(ti.numel()));
    dequantize_row(t, ti.data, v.data(), ti.numel());
    for (float x : v) EXPECT_TRUE(std::isfinite(x)) << ti.name;
  }
  // f32 tensor holds 0.25 * (k - 3) for k = 0..9 (see the generator).
  const TensorInfo& t = f->get("t.f32");
  const float* p = reinterpret_cast<const float*>(t.data);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(p[k], 0.25f * float(k - 3));
  EXPECT_EQ(f->total_bytes(), [&] { uint64_t s = 0; for (auto& x : f->tensors()) s += x.nbytes; return s; }());
}

TEST(Fixtures, GgufCustomAlignment) {
  auto f = open_model_file(fx("tiny_align64.gguf"));
  const TensorInfo& a = f->get("a");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(a.cols(), 4);
  EXPECT_EQ(a.rows(), 6);
  for (const TensorInfo& t : f->tensors()) EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u) << t.name;
  EXPECT_EQ(f->get("c").shape, (std::vector<int64_t>{7}));
}

TEST(Fixtures, SafetensorsSingleFile) {
  auto f = open_model_file(fx("tiny.safetensors"));
  EXPECT_EQ(f->format(), "safetensors");
  EXPECT_EQ(f->get_string("safetensors.format"), "pt");
  const TensorInfo& w = f->get("w.f32");
  EXPECT_EQ(w.type, QType::F32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(reinterpret_cast<const float*>(w.data)[5], -5.0f);
  float h[4];
  const TensorInfo& w16 = f->get("w.f16");
  dequantize_row(w16.type, w16.data, h, 4);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.5f);
  const TensorInfo& wb = f->get("w.bf16");
  dequantize_row(wb.type, wb.data, h, 2);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -3.0f);
  EXPECT_TRUE(f->get("w.scalar").shape.empty());
  EXPECT_EQ(f->get("w.scalar").numel(), 1);
  EXPECT_EQ(f->get("w.empty").numel(), 0);
  EXPECT_EQ(f->get("w.empty").rows(), 0);
}

TEST(Fixtures, SafetensorsShardedThroughIndexAndDirectory) {
  for (std::string p : {fx("sharded/model.safetensors.index.json"), fx("sharded"), fx("sharded/")}) {
    SCOPED_TRACE(p);
    auto f = open_model_file(p);
    EXPECT_EQ(f->tensors().size(), 3u);
    EXPECT_EQ(reinterpret_cast<const float*>(f->get("model.embed.weight").data)[3], 4.0f);
    const TensorInfo& lm = f->get("lm_head.weight");
    EXPECT_EQ(lm.type, QType::BF16);
    EXPECT_EQ(lm.shape, (std::vector<int64_t>{1, 2}));
    float v[2];
    dequantize_row(lm.type, lm.data, v, 2);
    EXPECT_EQ(v[1], 2.0f);
    // config.json beside the shards
    EXPECT_EQ(f->get_string("hf.model_type"), "llama");
    EXPECT_EQ(f->get_int("hf.hidden_size"), 2);
    EXPECT_DOUBLE_EQ(f->get_float("hf.rms_norm_eps"), 1e-5);
    EXPECT_EQ(f->get_int("hf.rope_theta"), 10000);  // written as 10000.0
    EXPECT_EQ(f->get_bool("hf.tie_word_embeddings"), false);
    EXPECT_EQ(arr<int64_t>(*f, "hf.eos_token_id"), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(arr<std::string>(*f, "hf.architectures"), (std::vector<std::string>{"LlamaForCausalLM"}));
    EXPECT_EQ(f->get_string("hf.rope_scaling.type"), "linear");
    EXPECT_FALSE(f->has("hf.pad_token_id"));  // null: skipped
    std::ifstream in(fx("sharded/config.json"));
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_EQ(f->get_string("hf.config_json"), ss.str());
  }
}

TEST(Fixtures, FromMemoryMatchesFromFile) {
  std::ifstream in(fx("tiny.gguf"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto m = open_model_file_from_memory(bytes.data(), bytes.size(), "mem.gguf");
  auto f = open_model_file(fx("tiny.gguf"));
  EXPECT_EQ(m->path(), "mem.gguf");
  ASSERT_EQ(m->tensors().size(), f->tensors().size());
  for (size_t i = 0; i < f->tensors().size(); ++i) {
    EXPECT_EQ(m->tensors()[i].name, f->tensors()[i].name);
    EXPECT_EQ(m->tensors()[i].data - reinterpret_cast<const uint8_t*>(bytes.data()),
              f->tensors()[i].data - f->tensors()[0].data + (m->tensors()[0].data - reinterpret_cast<const uint8_t*>(bytes.data())));
  }
}

TEST(Fixtures, MissingPathsAndNonModelFiles) {
  EXPECT_THROW(open_model_file(fx("does-not-exist.gguf")), Error);
  try {
    open_model_file(fx("sharded/config.json"));  // JSON but not an index
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_map"), std::string::npos) << e.what();
  }
  auto empty = std::filesystem::temp_directory_path() / ("eft_loader_empty_" + std::to_string(::getpid()));
  std::filesystem::create_directories(empty);
  EXPECT_THROW(open_model_file(empty.string()), Error);  // a directory with no safetensors
  std::filesystem::remove_all(empty);
}
