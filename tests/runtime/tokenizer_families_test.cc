// Tokenizers of every family against transformers' ids (tests/golden/<family>/tokenizer_cases.json,
// written by tests/golden/generate.py), through tokenizer.json and through the legacy files;
// tokenizer.json and vocab.txt of bert-mini giving the same ids; the pipeline's components on
// small hand-made inputs; malformed tokenizer.json refused with errors naming the file.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/error.h"
#include "runtime/tokenizer.h"
#include "runtime/tokenizer_json.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/tokenizer_wordpiece.h"
#include "tests/test_util.h"

namespace fwsvd {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr int64_t kNoLimit = int64_t(1) << 30;

json read_json(const fs::path& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot open " + file.string());
    return json::parse(in);
}

void write_file(const fs::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary);
    out << bytes;
}

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "<no Error thrown>";
}

std::string show(const std::vector<int32_t>& v) {
    std::ostringstream os;
    for (size_t i = 0; i < v.size(); ++i) os << (i ? " " : "") << v[i];
    return os.str();
}

struct Agreement {
    int matched = 0, total = 0;
};

// Runs the singles and pairs of a tokenizer_cases.json (max_len null or absent: no truncation)
// and reports the first few disagreements.
Agreement run_cases(const Tokenizer& tok, const json& cases, const std::string& name) {
    Agreement a;
    int shown = 0;
    auto check = [&](const std::string& what, const Encoding& got, const json& c) {
        ++a.total;
        const auto ids = c.at("ids").get<std::vector<int32_t>>();
        std::vector<int32_t> types(ids.size(), 0);
        if (c.contains("token_type_ids")) types = c["token_type_ids"].get<std::vector<int32_t>>();
        if (got.ids == ids && got.type_ids == types) {
            ++a.matched;
            return;
        }
        if (shown++ < 8) {
            ADD_FAILURE() << name << " " << what << "\n  got      " << show(got.ids) << " / "
                          << show(got.type_ids) << "\n  expected " << show(ids) << " / "
                          << show(types);
        }
    };
    auto max_len = [](const json& c) {
        auto it = c.find("max_len");
        return it == c.end() || it->is_null() ? kNoLimit : it->get<int64_t>();
    };
    for (const json& c : cases.at("single")) {
        const std::string text = c.at("text").get<std::string>();
        check("single " + json(text).dump() + " max_len " + std::to_string(max_len(c)),
              tok.encode(text, max_len(c)), c);
    }
    for (const json& c : cases.at("pairs")) {
        const std::string x = c.at("a").get<std::string>(), y = c.at("b").get<std::string>();
        // transformers' tokenizer(a, b) takes an empty text_pair for no pair (`if text_pair`),
        // so the reference of (a, "") is the single text a; batched calls (run_glue) and
        // encode_pair keep the pair.
        check("pair " + json(x).dump() + " / " + json(y).dump() + " max_len " +
                  std::to_string(max_len(c)),
              y.empty() ? tok.encode(x, max_len(c)) : tok.encode_pair(x, y, max_len(c)), c);
    }
    std::cout << "[ agree    ] " << name << ": " << a.matched << " / " << a.total
              << " cases give transformers' ids\n";
    return a;
}

// ---- bert-mini: tokenizer.json and vocab.txt --------------------------------------------------

std::vector<std::string> glue_texts(const fs::path& tsv, std::vector<int> columns, size_t limit) {
    std::ifstream in(tsv);
    std::vector<std::string> out;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && out.size() < limit) {
        std::vector<std::string> cols;
        std::stringstream ss(line);
        std::string f;
        while (std::getline(ss, f, '\t')) cols.push_back(f);
        for (int c : columns) {
            if (size_t(c) < cols.size()) out.push_back(cols[size_t(c)]);
        }
    }
    return out;
}

TEST(TokenizerJson, BertMiniJsonAndVocabTxtGiveTheSameIds) {
    FWSVD_REQUIRE_SHARED();
    const fs::path dir = testing::shared_dir() / "models" / "bert-mini-uncased";
    using Files = TokenizerLoadOptions::Files;
    TokenizerLoadOptions json_fast, json_generic, legacy;
    json_fast.files = Files::kTokenizerJson;
    json_generic.files = Files::kTokenizerJson;
    json_generic.generic_pipeline = true;
    legacy.files = Files::kLegacy;
    const auto fast = load_tokenizer(dir, json_fast);
    const auto generic = load_tokenizer(dir, json_generic);
    const auto vocab = load_tokenizer(dir, legacy);
    ASSERT_NE(dynamic_cast<WordPieceTokenizer*>(fast.get()), nullptr);
    ASSERT_NE(dynamic_cast<PipelineTokenizer*>(generic.get()), nullptr);
    ASSERT_NE(dynamic_cast<WordPieceTokenizer*>(vocab.get()), nullptr);
    for (const auto* t : {fast.get(), generic.get()}) {
        EXPECT_EQ(t->vocab_size(), vocab->vocab_size());
        EXPECT_EQ(t->cls_id(), vocab->cls_id());
        EXPECT_EQ(t->sep_id(), vocab->sep_id());
        EXPECT_EQ(t->pad_id(), vocab->pad_id());
        EXPECT_EQ(t->unk_id(), vocab->unk_id());
        EXPECT_EQ(t->num_special_tokens(false), 2u);
        EXPECT_EQ(t->num_special_tokens(true), 3u);
    }
    const json golden = read_json(testing::shared_dir() / "golden" / "tokenizer_cases.json")
                            .at("bert-mini-uncased");
    for (const auto& [name, t] : {std::pair{"tokenizer.json (WordPiece)", fast.get()},
                                  {"tokenizer.json (pipeline)", generic.get()},
                                  {"vocab.txt", vocab.get()}}) {
        const Agreement a = run_cases(*t, golden, std::string("bert-mini ") + name);
        EXPECT_EQ(a.matched, a.total);
        EXPECT_GT(a.total, 1000);
    }
    // GLUE dev sentences (SST-2 all, MRPC pairs): the three give identical encodings.
    const fs::path glue = testing::shared_dir() / "data" / "glue";
    const auto sst2 = glue_texts(glue / "SST-2" / "dev.tsv", {0}, 10000);
    const auto mrpc = glue_texts(glue / "MRPC" / "dev.tsv", {3, 4}, 800);
    ASSERT_EQ(sst2.size(), 872u);
    ASSERT_EQ(mrpc.size(), 800u);
    size_t same = 0, total = 0;
    for (const std::string& s : sst2) {
        const Encoding want = vocab->encode(s, 128);
        ++total;
        same += fast->encode(s, 128).ids == want.ids && generic->encode(s, 128).ids == want.ids;
    }
    for (size_t i = 0; i + 1 < mrpc.size(); i += 2) {
        const Encoding want = vocab->encode_pair(mrpc[i], mrpc[i + 1], 128);
        for (const auto* t : {fast.get(), generic.get()}) {
            const Encoding got = t->encode_pair(mrpc[i], mrpc[i + 1], 128);
            ++total;
            same += got.ids == want.ids && got.type_ids == want.type_ids;
        }
    }
    std::cout << "[ agree    ] bert-mini GLUE dev (SST-2, MRPC): " << same << " / " << total
              << " encodings identical across tokenizer.json and vocab.txt\n";
    EXPECT_EQ(same, total);
}

// ---- The families' goldens --------------------------------------------------------------------

class FamilyGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(FamilyGolden, TokenizerJsonAndLegacyFilesGiveTransformersIds) {
    const std::string family = GetParam();
    const fs::path dir = fs::path(FWSVD_SOURCE_DIR) / "tests" / "golden" / family;
    if (!fs::exists(dir / "tokenizer_cases.json")) {
        GTEST_SKIP() << dir << " has no tokenizer_cases.json (tests/golden/generate.py writes it)";
    }
    const json cases = read_json(dir / "tokenizer_cases.json");
    using Files = TokenizerLoadOptions::Files;
    for (Files files : {Files::kTokenizerJson, Files::kLegacy}) {
        const std::string path = files == Files::kTokenizerJson ? "tokenizer.json" : "legacy files";
        if (files == Files::kTokenizerJson && !fs::exists(dir / "tokenizer.json")) continue;
        TokenizerLoadOptions o;
        o.files = files;
        std::unique_ptr<Tokenizer> tok;
        ASSERT_NO_THROW(tok = load_tokenizer(dir, o)) << family << " " << path;
        const Agreement a = run_cases(*tok, cases, family + " " + path);
        EXPECT_EQ(a.matched, a.total) << family << " " << path;
        EXPECT_GT(a.total, 100);
        // The special ids transformers reports.
        if (cases.contains("header") && cases["header"].contains("special_ids")) {
            const json& sp = cases["header"]["special_ids"];
            const std::pair<const char*, int32_t> ids[] = {
                {"cls", tok->cls_id()}, {"sep", tok->sep_id()},   {"pad", tok->pad_id()},
                {"unk", tok->unk_id()}, {"mask", tok->mask_id()},
            };
            for (const auto& [key, id] : ids) {
                if (sp.contains(key)) {
                    EXPECT_EQ(id, sp[key]["id"].get<int32_t>())
                        << family << " " << path << " " << key;
                }
            }
            EXPECT_EQ(tok->vocab_size(), cases["header"]["vocab_size"].get<int64_t>());
        }
    }
}

// Long texts are processed in chunks cut before spaces: the golden texts (every script,
// controls, emoji, whitespace runs) joined by spaces and by newlines give the ids of the whole
// text, and prefixes are prefixes.
TEST_P(FamilyGolden, LongTextsInChunksGiveTheWholeTextsIds) {
    const std::string family = GetParam();
    const fs::path dir = fs::path(FWSVD_SOURCE_DIR) / "tests" / "golden" / family;
    if (!fs::exists(dir / "tokenizer.json")) GTEST_SKIP() << dir << " has no tokenizer.json";
    const json cases = read_json(dir / "tokenizer_cases.json");
    TokenizerLoadOptions o;
    o.files = TokenizerLoadOptions::Files::kTokenizerJson;
    o.generic_pipeline = true;
    const auto tok = load_tokenizer(dir, o);
    const auto* pipe = dynamic_cast<const PipelineTokenizer*>(tok.get());
    ASSERT_NE(pipe, nullptr);
    for (const std::string sep : {" ", "\n", "  "}) {
        std::string joined;
        for (const json& c : cases.at("single")) joined += c.at("text").get<std::string>() + sep;
        for (const json& c : cases.at("pairs")) {
            joined += c.at("a").get<std::string>() + sep + c.at("b").get<std::string>() + sep;
        }
        ASSERT_GT(joined.size(), 3u * 4096);
        const std::vector<int32_t> whole = pipe->tokenize_unchunked(joined);
        EXPECT_EQ(pipe->tokenize(joined), whole) << family << " joined by " << json(sep).dump();
        for (size_t k : {size_t(1), size_t(700), size_t(3000), whole.size() - 1}) {
            const std::vector<int32_t> p = pipe->tokenize_prefix(joined, k);
            ASSERT_GE(p.size(), k);
            EXPECT_TRUE(std::equal(p.begin(), p.end(), whole.begin())) << family << " k=" << k;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyGolden,
                         ::testing::Values("bert", "distilbert", "roberta", "xlm-roberta", "albert",
                                           "electra"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                             std::string n = p.param;
                             for (char& c : n) c = c == '-' ? '_' : c;
                             return n;
                         });

// ---- Components on hand-made inputs -------------------------------------------------------------

std::vector<std::string> pieces_of(const pipeline::PreTokenizer& p, const std::u32string& text) {
    std::vector<pipeline::Piece> pieces{{text, true}};
    p.pre_tokenize(pieces);
    std::vector<std::string> out;
    for (const auto& x : pieces) {
        std::string s;
        for (char32_t c : x.text) {
            if (c < 0x80) {
                s.push_back(char(c));
            } else {
                s += "<" + std::to_string(unsigned(c)) + ">";
            }
        }
        out.push_back(s);
    }
    return out;
}

using Strings = std::vector<std::string>;

TEST(TokenizerComponents, Gpt2SplitAndByteLevel) {
    using namespace pipeline;
    auto split = make_split(U"", true, SplitBehavior::kIsolated, false);
    EXPECT_EQ(pieces_of(*split, U"Hello world's  end!!  \n x"),
              (Strings{"Hello", " world", "'s", " ", " end", "!!", "  \n", " x"}));
    EXPECT_EQ(pieces_of(*split, U"it's 'quoted' 3.14"),
              (Strings{"it", "'s", " '", "quoted", "'", " 3", ".", "14"}));
    EXPECT_EQ(pieces_of(*split, U"a   "), (Strings{"a", "   "}));
    // ByteLevel: the space becomes U+0120 (288), bytes of non-ASCII characters their stand-ins.
    auto bl = make_byte_level(false, true);
    EXPECT_EQ(pieces_of(*bl, U"Hi é"), (Strings{"Hi", "<288><195><169>"}));
    auto bl_prefix = make_byte_level(true, true);
    EXPECT_EQ(pieces_of(*bl_prefix, U"Hi"), (Strings{"<288>Hi"}));
}

TEST(TokenizerComponents, MetaspaceWhitespaceAndSplits) {
    using namespace pipeline;
    auto ms = make_metaspace(U'\u2581', PrependScheme::kAlways, true);
    EXPECT_EQ(pieces_of(*ms, U"Hey  friend"), (Strings{"<9601>Hey", "<9601>", "<9601>friend"}));
    auto never = make_metaspace(U'\u2581', PrependScheme::kNever, true);
    EXPECT_EQ(pieces_of(*never, U"Hey friend"), (Strings{"Hey", "<9601>friend"}));
    EXPECT_EQ(pieces_of(*make_whitespace_split(), U" a\tb  c "), (Strings{"a", "b", "c"}));
    EXPECT_EQ(pieces_of(*make_whitespace(), U"Hey, you're 12!"),
              (Strings{"Hey", ",", "you", "'", "re", "12", "!"}));
    EXPECT_EQ(pieces_of(*make_digits(false), U"a123b4"), (Strings{"a", "123", "b", "4"}));
    EXPECT_EQ(pieces_of(*make_digits(true), U"a12"), (Strings{"a", "1", "2"}));
    EXPECT_EQ(pieces_of(*make_punctuation(SplitBehavior::kMergedWithPrevious), U"a.b,,c"),
              (Strings{"a.", "b,", ",", "c"}));
    EXPECT_EQ(pieces_of(*make_split(U"-", false, SplitBehavior::kMergedWithNext, false), U"a-b--c"),
              (Strings{"a", "-b", "-", "-c"}));
    EXPECT_EQ(pieces_of(*make_split(U"-", false, SplitBehavior::kContiguous, false), U"a--b"),
              (Strings{"a", "--", "b"}));
}

TEST(TokenizerComponents, NormalizersAndModels) {
    using namespace pipeline;
    std::u32string s = U"\u00C9t\u00E9  \uFB01";
    make_unicode_normalizer(NormalForm::kNFKD)->normalize(s);
    make_strip_accents()->normalize(s);
    make_lowercase()->normalize(s);
    EXPECT_EQ(s, U"ete  fi");
    make_replace(ReplacePattern{U"", U' ', 2}, U"_")->normalize(s);
    EXPECT_EQ(s, U"ete_fi");
    std::u32string t = U"  x ";
    make_strip(false, true)->normalize(t);
    EXPECT_EQ(t, U"  x");
    make_prepend(U"\u2581")->normalize(t);
    EXPECT_EQ(t, U"\u2581  x");

    // BPE: ranks decide, not order in the word.
    Vocab v;
    for (const char* tok : {"a", "b", "c", "ab", "bc", "abc", "<unk>"}) {
        v.ids[tok] = int32_t(v.tokens.size());
        v.tokens.push_back(tok);
        v.present.push_back(true);
    }
    BpeOptions o;
    o.unk_token = "<unk>";
    auto bpe = make_bpe(v, {{"b", "c"}, {"a", "b"}, {"a", "bc"}}, o, "test");
    std::vector<int32_t> ids;
    bpe->tokenize("abc", ids);
    EXPECT_EQ(ids, (std::vector<int32_t>{5}));  // b c first, then a bc
    ids.clear();
    bpe->tokenize("abxxc", ids);  // unknown characters, not fused
    EXPECT_EQ(ids, (std::vector<int32_t>{3, 6, 6, 2}));
    EXPECT_NE(error_of([&] {
                  make_bpe(v, {{"a", "x"}}, o, "m.json");
              }).find("m.json"),
              std::string::npos);

    // Unigram: the best-scoring segmentation; unknown characters fused into one <unk>.
    auto uni = make_unigram({{"<unk>", 0}, {"a", -1}, {"b", -1}, {"ab", -1.5}, {"abc", -5}}, 0,
                            false, "test");
    ids.clear();
    uni->tokenize("ababc", ids);
    EXPECT_EQ(ids, (std::vector<int32_t>{3, 4}));  // ab abc (-6.5) beats ab ab <unk> (-18)
    ids.clear();
    uni->tokenize("ababx", ids);
    EXPECT_EQ(ids, (std::vector<int32_t>{3, 3, 0}));
    ids.clear();
    uni->tokenize("xyab", ids);
    EXPECT_EQ(ids, (std::vector<int32_t>{0, 3}));
}

// The Precompiled normalizer of the XLM-RoBERTa golden (SentencePiece's nmt_nfkc charsmap),
// applied the tokenizers way: a grapheme cluster under 6 bytes is replaced by the mapping of its
// shortest mapped prefix, so a full-width A with a combining accent loses the accent (where
// SentencePiece's longest match would keep it).
TEST(TokenizerComponents, PrecompiledCharsmapOfXlmRoberta) {
    const fs::path tj =
        fs::path(FWSVD_SOURCE_DIR) / "tests" / "golden" / "xlm-roberta" / "tokenizer.json";
    if (!fs::exists(tj)) GTEST_SKIP() << tj << " not found (tests/golden/generate.py writes it)";
    const json j = read_json(tj);
    ASSERT_EQ(j.at("normalizer").at("type"), "Precompiled");
    std::string blob;
    ASSERT_TRUE(tokenizer_json::base64_decode(
        j["normalizer"]["precompiled_charsmap"].get<std::string>(), blob));
    const auto n = pipeline::make_precompiled(blob, tj.string());
    auto norm = [&](std::u32string s) {
        n->normalize(s);
        return s;
    };
    EXPECT_EQ(norm(U"\uFF26\uFF35\uFF2C\uFF2C \uFF11\uFF12 \uFB01"), U"FULL 12 fi");
    EXPECT_EQ(norm(U"caf\u00E9 e\u0301"), U"caf\u00E9 \u00E9");
    EXPECT_EQ(norm(U"\uFF21\u0301"), U"A");
    EXPECT_EQ(norm(U"plain text"), U"plain text");
}

// ---- Errors -------------------------------------------------------------------------------------

TEST(TokenizerJsonErrors, MalformedOrUnsupportedFilesNameTheFileAndComponent) {
    testing::TempDir tmp;
    const fs::path tj = tmp / "tokenizer.json";
    auto expect = [&](const std::string& content, const std::string& what) {
        write_file(tj, content);
        const std::string msg = error_of([&] { load_tokenizer(tmp.path()); });
        EXPECT_NE(msg.find(tj.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << "expected \"" << what << "\" in: " << msg;
    };
    const std::string wp =
        R"("model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3}})";
    expect("{}", "no \"model\"");
    expect(R"({"model": 3})", "model: expected an object");
    expect(R"({"model": {"type": "WordLevel", "vocab": {}}})", "unsupported model \"WordLevel\"");
    expect(R"({"model": {"type": "WordPiece", "vocab": []}})", "\"vocab\" must be an object");
    expect(R"({"model": {"type": "WordPiece", "vocab": {"a": -1}}})", "expected a token id");
    expect(R"({"normalizer": {"type": "ByteLevel"}, )" + wp + "}",
           "unsupported normalizer \"ByteLevel\"");
    expect(R"({"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"x": 1}]}, )" +
               wp + "}",
           "normalizer.normalizers[1]: missing \"type\"");
    expect(R"({"normalizer": {"type": "Replace", "pattern": {"Regex": "a|b"}, "content": ""}, )" +
               wp + "}",
           "unsupported regex \"a|b\"");
    expect(R"({"normalizer": {"type": "Precompiled", "precompiled_charsmap": "!!"}, )" + wp + "}",
           "not base64");
    expect(R"({"normalizer": {"type": "Precompiled", "precompiled_charsmap": "AAAAAAAA"}, )" + wp +
               "}",
           "does not fit");
    expect(R"({"pre_tokenizer": {"type": "UnicodeScripts"}, )" + wp + "}",
           "unsupported pre-tokenizer \"UnicodeScripts\"");
    expect(R"({"pre_tokenizer": {"type": "Metaspace", "replacement": "ab"}, )" + wp + "}",
           "\"replacement\" must be one character");
    expect(
        R"({"post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]"]}, )" +
            wp + "}",
        "\"cls\" must be [token, id]");
    expect(
        R"({"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "X"}}], "pair": [], "special_tokens": {}}, )" +
            wp + "}",
        "special token \"X\" is not in \"special_tokens\"");
    expect(
        R"({"post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 99]}, )" +
            wp + "}",
        "special token id 99 of the post-processor is outside the vocabulary (size 4)");
    expect(R"({"post_processor": {"type": "Nope"}, )" + wp + "}",
           "unsupported post-processor \"Nope\"");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})",
           "not in the vocabulary");
    expect(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})",
           "two tokens separated by one space");
    expect(R"({"model": {"type": "Unigram", "vocab": [["a", "x"]]}})", "expected [piece, score]");
    expect(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 5}})",
           "unk_id 5 is outside the vocabulary");
    // A valid file loads, and invalid UTF-8 text is an Error, not a crash.
    write_file(tj, R"({"pre_tokenizer": {"type": "WhitespaceSplit"}, )" + wp + "}");
    const auto tok = load_tokenizer(tmp.path());
    EXPECT_EQ(tok->encode("a a", 16).ids, (std::vector<int32_t>{1, 3, 3, 2}));
    EXPECT_NE(error_of([&] { tok->encode("a\xff", 16); }).find("invalid UTF-8"), std::string::npos);
}

}  // namespace
}  // namespace fwsvd
