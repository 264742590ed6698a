// Inputs that crashed or broke an invariant, found by the fuzzers of fuzz/ (scripts/fuzz.sh) or
// while probing the readers by hand, kept as regression cases: each must now give an Error or a
// correct result, never a crash.
#include <gtest/gtest.h>

#include <sstream>

#include "models/model_config.h"
#include "models/params.h"
#include "runtime/dataset.h"
#include "runtime/json_util.h"
#include "runtime/safetensors.h"
#include "runtime/tokenizer_wordpiece.h"
#include "tests/bad_input_util.h"

namespace fwsvd::testing {
namespace {

namespace fs = std::filesystem;

std::string bytes_of(std::initializer_list<unsigned char> b) {
    return std::string(b.begin(), b.end());
}

// fuzz_wordpiece, crash-75b063f26b5f73f8982c9692faf65f266f384b90: option byte 0x3c (added tokens,
// no clean_text, no CJK padding, 5-character words), text U+05C0 'e' "[UNK]". tokenize_prefix
// stopped inside the segment before "[UNK]" after one token, then appended the "[UNK]" added
// token anyway: its result was not a prefix of tokenize(). Found while adding early stopping.
TEST(FuzzRegression, WordPiecePrefixStopsBeforeTheNextAddedToken) {
    TempDir tmp;
    write_bytes(tmp / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n<special>\ne\n");
    WordPieceOptions o;
    o.do_lower_case = false;
    o.strip_accents = true;
    o.tokenize_chinese_chars = false;
    o.clean_text = false;
    o.added_tokens = {{"[UNK]", -1, false},
                      {"[CLS]", -1, false},
                      {"[SEP]", -1, false},
                      {"<Special>", 5, true},
                      {"new token", 40000, true}};
    o.max_input_chars_per_word = 5;
    WordPieceTokenizer tok(tmp / "vocab.txt", o);
    const std::string input = bytes_of({0x3c, 0xd7, 0x80, 0x65, 0x5b, 0x55, 0x4e, 0x4b, 0x5d});
    const std::string_view text = std::string_view(input).substr(1);
    const std::vector<int32_t> all = tok.tokenize(text);
    ASSERT_EQ(all.size(), 3u);  // U+05C0 (punctuation, unknown), "e", [UNK]
    for (size_t k = 0; k <= all.size() + 1; ++k) {
        const std::vector<int32_t> p = tok.tokenize_prefix(text, k);
        ASSERT_GE(p.size(), std::min(k, all.size())) << "k = " << k;
        ASSERT_LE(p.size(), all.size());
        EXPECT_TRUE(std::equal(p.begin(), p.end(), all.begin())) << "k = " << k;
    }
    bool truncated = false;
    EXPECT_EQ(tok.encode(text, 3, &truncated).ids.size(), 3u);
    EXPECT_TRUE(truncated);
}

// Found by hand before the fuzzers ran: a config.json nested 200,000 levels deep crashed fwsvd run
// with SIGSEGV (ModelConfig copies the parsed document, and nlohmann's copy recurses per level).
// Every JSON entry point now refuses documents nested deeper than 256 levels before parsing.
std::string deep_json(size_t depth) {
    return "{\"x\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
}

TEST(FuzzRegression, DeeplyNestedJsonEverywhere) {
    const std::string deep = deep_json(200000);
    expect_error([&] { parse_json(deep, "doc.json"); }, {"doc.json: JSON nested deeper than 256"});
    // At the limit it parses; strings with brackets do not count.
    EXPECT_NO_THROW(parse_json(deep_json(kMaxJsonDepth - 1), "ok.json"));
    EXPECT_NO_THROW(parse_json("{\"s\": \"" + std::string(1000, '[') + "\\\"[\"}", "str.json"));

    TempDir tmp;
    write_bytes(tmp / "config.json", deep);
    expect_error([&] { ModelConfig::load(tmp.path()); }, {"config.json", "nested deeper"});

    const std::string st = safetensors_bytes(deep);
    expect_error([&] { SafetensorsFile::parse(st.data(), st.size(), "deep.safetensors"); },
                 {"deep.safetensors: header: JSON nested deeper"});

    write_bytes(tmp / "vocab.txt", small_vocab());
    write_bytes(tmp / "tokenizer_config.json", deep);
    expect_error([&] { read_wordpiece_options(tmp.path()); },
                 {"tokenizer_config.json", "nested deeper"});

    std::istringstream jsonl(deep + "\n");
    expect_error([&] { read_dataset(jsonl, "deep.jsonl", DataFormat::jsonl, {}); },
                 {"deep.jsonl:1: JSON nested deeper"});
}

// Found by reading ParamLayout while writing fuzz_low_rank: a rank near 2^63 on a layer with
// in = 1 made (numel + 15) and the running offset overflow int64 (undefined behaviour).
TEST(FuzzRegression, LayoutRankOverflow) {
    const std::string cfg =
        "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 1, "
        "\"num_hidden_layers\": 1, \"num_attention_heads\": 1, \"intermediate_size\": 1, "
        "\"max_position_embeddings\": 8, \"low_rank\": {\"ranks\": "
        "{\"bert.encoder.layer.0.attention.self.query\": 9223372036854775807}}}";
    ModelConfig c = ModelConfig::from_json(parse_json(cfg, "config.json"), "config.json");
    LayoutOptions lo;
    lo.ranks["bert.encoder.layer.0.attention.self.query"] =
        c.raw["low_rank"]["ranks"]["bert.encoder.layer.0.attention.self.query"].get<int64_t>();
    expect_error([&] { ParamLayout(c, lo); }, {"larger than 2^48 floats"});
}

}  // namespace
}  // namespace fwsvd::testing
