// Tokenizers against transformers' ids (golden/tokenizer_cases.json, golden/spm/spm_cases.json),
// HF's longest_first truncation, and the errors of bad input.
#include "runtime/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/error.h"
#include "runtime/tokenizer_sentencepiece.h"
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

// "" when equal, else where the first difference is.
std::string compare_ids(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
    if (got == want) return "";
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    std::ostringstream os;
    os << "first difference at position " << i << ": got "
       << (i < got.size() ? std::to_string(got[i]) : std::string("<end>")) << ", expected "
       << (i < want.size() ? std::to_string(want[i]) : std::string("<end>")) << " (lengths "
       << got.size() << " / " << want.size() << ")";
    return os.str();
}

// Runs every single and pair case of one vocabulary of tokenizer_cases.json.
void check_golden_cases(const Tokenizer& tok, const json& cases, const std::string& name) {
    int checked = 0, failed = 0;
    const auto& singles = cases.at("single");
    for (size_t c = 0; c < singles.size(); ++c) {
        const std::string text = singles[c].at("text").get<std::string>();
        const auto want = singles[c].at("ids").get<std::vector<int32_t>>();
        Encoding enc = tok.encode(text, kNoLimit);
        std::string diff = compare_ids(enc.ids, want);
        if (diff.empty()) diff = compare_ids(enc.type_ids, std::vector<int32_t>(want.size(), 0));
        if (diff.empty()) {
            // tokenize() is the same without [CLS] / [SEP].
            diff = compare_ids(tok.tokenize(text),
                               std::vector<int32_t>(want.begin() + 1, want.end() - 1));
        }
        ++checked;
        if (!diff.empty()) {
            ++failed;
            ADD_FAILURE() << name << " single case " << c << " " << json(text).dump() << ": "
                          << diff;
        }
    }
    const auto& pairs = cases.at("pairs");
    for (size_t c = 0; c < pairs.size(); ++c) {
        const auto& p = pairs[c];
        const std::string a = p.at("a").get<std::string>();
        const std::string b = p.at("b").get<std::string>();
        Encoding enc = tok.encode_pair(a, b, p.at("max_len").get<int64_t>());
        std::string diff = compare_ids(enc.ids, p.at("ids").get<std::vector<int32_t>>());
        if (!diff.empty()) {
            diff = "ids: " + diff;
        } else {
            diff = compare_ids(enc.type_ids, p.at("token_type_ids").get<std::vector<int32_t>>());
            if (!diff.empty()) diff = "token_type_ids: " + diff;
        }
        ++checked;
        if (!diff.empty()) {
            ++failed;
            ADD_FAILURE() << name << " pair case " << c << " a=" << json(a).dump()
                          << " b=" << json(b).dump() << ": " << diff;
        }
    }
    std::cout << "[ golden   ] " << name << ": " << (checked - failed) << " / " << checked
              << " cases match\n";
    EXPECT_EQ(failed, 0);
    EXPECT_GT(checked, 0);
}

TEST(TokenizerGolden, BertBaseUncasedVocab) {
    FWSVD_REQUIRE_SHARED();
    const fs::path dir = testing::shared_dir();
    const json golden = read_json(dir / "golden" / "tokenizer_cases.json");
    WordPieceTokenizer tok(dir / "data" / "vocab" / "bert-base-uncased-vocab.txt");
    EXPECT_EQ(tok.vocab_size(), 30522);
    EXPECT_EQ(tok.cls_id(), 101);
    EXPECT_EQ(tok.sep_id(), 102);
    EXPECT_EQ(tok.pad_id(), 0);
    EXPECT_EQ(tok.unk_id(), 100);
    check_golden_cases(tok, golden.at("bert-base-uncased"), "bert-base-uncased");
}

TEST(TokenizerGolden, BertMiniUncasedFolder) {
    FWSVD_REQUIRE_SHARED();
    const fs::path dir = testing::shared_dir();
    const json golden = read_json(dir / "golden" / "tokenizer_cases.json");
    std::unique_ptr<Tokenizer> tok = load_tokenizer(dir / "models" / "bert-mini-uncased");
    ASSERT_NE(dynamic_cast<WordPieceTokenizer*>(tok.get()), nullptr);
    EXPECT_EQ(tok->vocab_size(), 8192);
    EXPECT_EQ(tok->pad_id(), 0);
    EXPECT_EQ(tok->unk_id(), 1);
    EXPECT_EQ(tok->cls_id(), 2);
    EXPECT_EQ(tok->sep_id(), 3);
    check_golden_cases(*tok, golden.at("bert-mini-uncased"), "bert-mini-uncased");
}

TEST(TokenizerGolden, SentencePieceCases) {
    FWSVD_REQUIRE_SHARED();
    const fs::path spm_dir = testing::shared_dir() / "golden" / "spm";
    const json golden = read_json(spm_dir / "spm_cases.json");
    SentencePieceTokenizer tok(spm_dir / "spiece.model");
    EXPECT_EQ(tok.cls_id(), golden.at("cls_id").get<int32_t>());
    EXPECT_EQ(tok.sep_id(), golden.at("sep_id").get<int32_t>());
    EXPECT_EQ(tok.pad_id(), golden.at("pad_id").get<int32_t>());
    EXPECT_EQ(tok.unk_id(), golden.at("unk_id").get<int32_t>());
    int checked = 0, failed = 0;
    const auto& cases = golden.at("cases");
    for (size_t c = 0; c < cases.size(); ++c) {
        const std::string text = cases[c].at("text").get<std::string>();
        std::string diff =
            compare_ids(tok.tokenize(text), cases[c].at("ids").get<std::vector<int32_t>>());
        ++checked;
        if (!diff.empty()) {
            ++failed;
            ADD_FAILURE() << "spm case " << c << " " << json(text).dump() << ": " << diff;
        }
    }
    std::cout << "[ golden   ] spm: " << (checked - failed) << " / " << checked << " cases match\n";
    EXPECT_EQ(failed, 0);
    EXPECT_GT(checked, 0);

    // [CLS] a [SEP] b [SEP] with the model's own pieces.
    Encoding enc = tok.encode_pair("Hello", "World", 128);
    EXPECT_EQ(enc.ids.front(), 2);
    EXPECT_EQ(enc.ids.back(), 3);
}

TEST(TokenizerLoad, SentencePieceFolderAndLowerCase) {
    FWSVD_REQUIRE_SHARED();
    const fs::path model = testing::shared_dir() / "golden" / "spm" / "spiece.model";
    testing::TempDir tmp;
    fs::copy_file(model, tmp / "spiece.model");
    write_file(tmp / "vocab.txt", "[UNK]\n");  // spiece.model wins
    std::unique_ptr<Tokenizer> tok = load_tokenizer(tmp.path());
    ASSERT_NE(dynamic_cast<SentencePieceTokenizer*>(tok.get()), nullptr);
    SentencePieceTokenizer plain(model);
    EXPECT_EQ(tok->tokenize("Hello, World!"), plain.tokenize("Hello, World!"));

    write_file(tmp / "tokenizer_config.json", R"({"do_lower_case": true})");
    std::unique_ptr<Tokenizer> lower = load_tokenizer(tmp.path());
    EXPECT_EQ(lower->tokenize("HeLLo, WÖRLD!"), plain.tokenize("hello, wörld!"));
}

// ---- Truncation -----------------------------------------------------------------------------

TEST(TokenizerTruncation, LongestFirstLengthsMatchTokenizersLibrary) {
    // The table of tokenizers' own unit test (utils/truncation.rs), budget 7.
    struct Case {
        size_t n1, n2, want1, want2;
    };
    const Case cases[] = {
        {0, 0, 0, 0}, {0, 2, 0, 2}, {0, 4, 0, 4}, {0, 8, 0, 7}, {2, 0, 2, 0}, {2, 2, 2, 2},
        {2, 4, 2, 4}, {2, 8, 2, 5}, {4, 0, 4, 0}, {4, 2, 4, 2}, {4, 4, 3, 4}, {4, 8, 3, 4},
        {8, 0, 7, 0}, {8, 2, 5, 2}, {8, 4, 4, 3}, {8, 8, 3, 4},
    };
    for (const Case& c : cases) {
        auto [n1, n2] = longest_first_lengths(c.n1, c.n2, 7);
        EXPECT_EQ(n1, c.want1) << c.n1 << " + " << c.n2;
        EXPECT_EQ(n2, c.want2) << c.n1 << " + " << c.n2;
    }
    EXPECT_EQ(longest_first_lengths(5, 9, 0), std::make_pair(size_t(0), size_t(0)));
    EXPECT_EQ(longest_first_lengths(1, 9, 1), std::make_pair(size_t(0), size_t(1)));
    // Property: the result fits, never grows a sequence, and uses the whole budget.
    for (size_t n1 = 0; n1 < 20; ++n1) {
        for (size_t n2 = 0; n2 < 20; ++n2) {
            for (size_t budget = 0; budget < 25; ++budget) {
                auto [k1, k2] = longest_first_lengths(n1, n2, budget);
                ASSERT_LE(k1, n1);
                ASSERT_LE(k2, n2);
                ASSERT_EQ(k1 + k2, std::min(n1 + n2, budget)) << n1 << " " << n2 << " " << budget;
            }
        }
    }
}

TEST(TokenizerTruncation, EncodeTruncates) {
    FWSVD_REQUIRE_SHARED();
    WordPieceTokenizer tok(testing::shared_dir() / "data" / "vocab" /
                           "bert-base-uncased-vocab.txt");
    const std::string a = "the quick brown fox jumps over the lazy dog";  // 9 tokens
    const std::string b = "a stitch in time saves nine";                  // 6 tokens
    const std::vector<int32_t> ta = tok.tokenize(a), tb = tok.tokenize(b);
    ASSERT_EQ(ta.size(), 9u);
    ASSERT_EQ(tb.size(), 6u);

    for (int64_t max_len = 2; max_len <= 12; ++max_len) {
        Encoding enc = tok.encode(a, max_len);
        const size_t keep = std::min<size_t>(ta.size(), size_t(max_len - 2));
        std::vector<int32_t> want = {tok.cls_id()};
        want.insert(want.end(), ta.begin(), ta.begin() + std::ptrdiff_t(keep));
        want.push_back(tok.sep_id());
        EXPECT_EQ(compare_ids(enc.ids, want), "") << "max_len " << max_len;
        EXPECT_EQ(enc.type_ids, std::vector<int32_t>(want.size(), 0));
    }
    for (int64_t max_len = 3; max_len <= 20; ++max_len) {
        Encoding enc = tok.encode_pair(a, b, max_len);
        // The tokenizers library compares the texts' lengths up to max_len words (here one token
        // each): tokenize_prefix(text, max_len).
        auto [n1, n2] = longest_first_lengths(std::min<size_t>(ta.size(), size_t(max_len)),
                                              std::min<size_t>(tb.size(), size_t(max_len)),
                                              size_t(max_len - 3));
        std::vector<int32_t> want = {tok.cls_id()};
        want.insert(want.end(), ta.begin(), ta.begin() + std::ptrdiff_t(n1));
        want.push_back(tok.sep_id());
        std::vector<int32_t> types(want.size(), 0);
        want.insert(want.end(), tb.begin(), tb.begin() + std::ptrdiff_t(n2));
        want.push_back(tok.sep_id());
        types.resize(want.size(), 1);
        EXPECT_LE(int64_t(enc.ids.size()), max_len);
        EXPECT_EQ(compare_ids(enc.ids, want), "") << "max_len " << max_len;
        EXPECT_EQ(enc.type_ids, types) << "max_len " << max_len;
    }
    // max_len 12, budget 9: 9 + 6 tokens -> 5 + 4 (both cut; the longer first keeps the odd one).
    Encoding enc = tok.encode_pair(a, b, 12);
    EXPECT_EQ(std::count(enc.type_ids.begin(), enc.type_ids.end(), 0), 1 + 5 + 1);
    EXPECT_EQ(std::count(enc.type_ids.begin(), enc.type_ids.end(), 1), 4 + 1);
}

// ---- Behaviour --------------------------------------------------------------------------------

TEST(TokenizerBehaviour, EmptyAndWhitespaceOnly) {
    FWSVD_REQUIRE_SHARED();
    std::unique_ptr<Tokenizer> tok =
        load_tokenizer(testing::shared_dir() / "models" / "bert-mini-uncased");
    const std::vector<std::string> texts = {"", " ", "   \t\n\r  ", "\u3000\u00a0",
                                            std::string("\0\0", 2)};
    for (const std::string& text : texts) {
        Encoding enc = tok->encode(text, 128);
        EXPECT_EQ(enc.ids, (std::vector<int32_t>{tok->cls_id(), tok->sep_id()}))
            << json(text).dump();
        EXPECT_EQ(enc.type_ids, (std::vector<int32_t>{0, 0}));
        EXPECT_TRUE(tok->tokenize(text).empty());
    }
    Encoding pair = tok->encode_pair("", "", 3);
    EXPECT_EQ(pair.ids, (std::vector<int32_t>{tok->cls_id(), tok->sep_id(), tok->sep_id()}));
    EXPECT_EQ(pair.type_ids, (std::vector<int32_t>{0, 0, 1}));
}

TEST(TokenizerBehaviour, SpecialTokensAndWordPiece) {
    testing::TempDir tmp;
    // id:          0       1       2       3       4        5     6      7      8   9    10
    write_file(tmp / "vocab.txt",
               "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\n,\n[\n]\ncafe\n##s\nx\n");
    WordPieceTokenizer tok(tmp / "vocab.txt");
    EXPECT_EQ(tok.vocab_size(), 14);
    EXPECT_EQ(tok.id_to_token(6), "##aff");
    EXPECT_THROW(tok.id_to_token(14), Error);
    // Greedy longest match with ## continuations; lower-casing and accent stripping.
    EXPECT_EQ(tok.tokenize("UnAffable, Café"), (std::vector<int32_t>{5, 6, 7, 8, 11}));
    // A word that cannot be decomposed is one [UNK], even when its start matches.
    EXPECT_EQ(tok.tokenize("unaffx cafes"), (std::vector<int32_t>{1, 11, 12}));
    // Special tokens are recognised in the raw text, also glued to words, case-sensitively.
    EXPECT_EQ(tok.tokenize("x[SEP]x [MASK]"), (std::vector<int32_t>{13, 3, 13, 4}));
    EXPECT_EQ(tok.tokenize("[sep]"), (std::vector<int32_t>{9, 1, 10}));
    // Words over 100 code points are [UNK] even when decomposable; 100 is still split.
    std::string w100 = "un";
    for (int i = 0; i < 98; ++i) w100 += "x";
    EXPECT_EQ(tok.tokenize(w100), (std::vector<int32_t>{1}));  // "##x" is not in the vocab
    write_file(tmp / "vocab2.txt", "[UNK]\n[CLS]\n[SEP]\nx\n##x\n");
    WordPieceTokenizer tok2(tmp / "vocab2.txt");
    EXPECT_EQ(tok2.pad_id(), 0);  // no [PAD]
    EXPECT_EQ(tok2.tokenize(std::string(100, 'x')).size(), 100u);
    EXPECT_EQ(tok2.tokenize(std::string(101, 'x')), (std::vector<int32_t>{0}));
}

TEST(TokenizerBehaviour, OptionsFromConfig) {
    testing::TempDir tmp;
    write_file(tmp / "vocab.txt", "<unk>\n<cls>\n<sep>\nCafé\ncafe\n中\n");
    write_file(tmp / "tokenizer_config.json",
               R"({"do_lower_case": false, "unk_token": "<unk>", "cls_token": "<cls>",
                   "sep_token": {"content": "<sep>", "__type": "AddedToken"},
                   "tokenize_chinese_chars": true})");
    std::unique_ptr<Tokenizer> cased = load_tokenizer(tmp.path());
    EXPECT_EQ(cased->cls_id(), 1);
    EXPECT_EQ(cased->sep_id(), 2);
    EXPECT_EQ(cased->unk_id(), 0);
    EXPECT_EQ(cased->tokenize("Café 中中"), (std::vector<int32_t>{3, 5, 5}));
    EXPECT_EQ(cased->tokenize("<cls>"), (std::vector<int32_t>{1}));

    write_file(tmp / "tokenizer_config.json",
               R"({"do_lower_case": false, "strip_accents": true, "unk_token": "<unk>",
                   "cls_token": "<cls>", "sep_token": "<sep>"})");
    EXPECT_EQ(load_tokenizer(tmp.path())->tokenize("Café"), (std::vector<int32_t>{0}));  // Cafe
    write_file(tmp / "tokenizer_config.json",
               R"({"do_lower_case": true, "strip_accents": false, "unk_token": "<unk>",
                   "cls_token": "<cls>", "sep_token": "<sep>"})");
    EXPECT_EQ(load_tokenizer(tmp.path())->tokenize("CAFE Café"), (std::vector<int32_t>{4, 0}));
}

TEST(TokenizerBehaviour, LowerCasesPerCodePointLikeTokenizers) {
    // tokenizers' BertNormalizer lower-cases code point by code point (Rust char::to_lowercase):
    // a word-final capital sigma becomes σ, not the ς of Python's str.lower(). İ becomes i plus
    // U+0307, which accent stripping then drops.
    testing::TempDir tmp;
    write_file(tmp / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nσασ\nσας\ni\n");
    WordPieceTokenizer tok(tmp / "vocab.txt");
    EXPECT_EQ(tok.tokenize("ΣΑΣ"), (std::vector<int32_t>{3}));
    EXPECT_EQ(tok.tokenize("\u0130"), (std::vector<int32_t>{5}));
}

TEST(TokenizerBehaviour, DuplicateTokensKeepTheLastLine) {
    testing::TempDir tmp;
    write_file(tmp / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\r\n\nlast");
    WordPieceTokenizer tok(tmp / "vocab.txt");
    EXPECT_EQ(tok.vocab_size(), 8);  // ids are line numbers; the empty line is a token too
    EXPECT_EQ(tok.token_to_id("hello"), 5);
    EXPECT_EQ(tok.id_to_token(3), "hello");
    EXPECT_EQ(tok.token_to_id("last"), 7);
    EXPECT_EQ(tok.tokenize("hello world"), (std::vector<int32_t>{5, 4}));
}

// ---- Errors -----------------------------------------------------------------------------------

template <typename F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "<no Error thrown>";
}

TEST(TokenizerErrors, InvalidUtf8Text) {
    testing::TempDir tmp;
    write_file(tmp / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nab\n");
    WordPieceTokenizer tok(tmp / "vocab.txt");
    for (const std::string& bad :
         {std::string("ab\xff"), std::string("ab\xC0\x80"), std::string("ab\xED\xA0\x80"),
          std::string("ab\xE2\x82"), std::string("ab\x80"), std::string("ab\xF4\x90\x80\x80")}) {
        std::string msg = error_of([&] { tok.tokenize(bad); });
        EXPECT_NE(msg.find("invalid UTF-8"), std::string::npos) << msg;
        EXPECT_NE(msg.find("byte offset 2"), std::string::npos) << msg;
        EXPECT_NE(error_of([&] { tok.encode(bad, 16); }).find("UTF-8"), std::string::npos);
        EXPECT_NE(error_of([&] { tok.encode_pair("ab", bad, 16); }).find("UTF-8"),
                  std::string::npos);
    }
    FWSVD_REQUIRE_SHARED();
    SentencePieceTokenizer spm(testing::shared_dir() / "golden" / "spm" / "spiece.model");
    EXPECT_NE(error_of([&] { spm.tokenize("x\xff"); }).find("invalid UTF-8"), std::string::npos);
}

TEST(TokenizerErrors, BadVocabularyFiles) {
    testing::TempDir tmp;
    auto expect_error = [&](const fs::path& file, const std::string& what) {
        std::string msg = error_of([&] { WordPieceTokenizer tok(file); });
        EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
        EXPECT_NE(msg.find(what), std::string::npos) << msg;
    };
    expect_error(tmp / "missing.txt", "not found");
    write_file(tmp / "empty.txt", "");
    expect_error(tmp / "empty.txt", "empty");
    write_file(tmp / "no_unk.txt", "[CLS]\n[SEP]\nhello\n");
    expect_error(tmp / "no_unk.txt", "[UNK]");
    write_file(tmp / "no_sep.txt", "[UNK]\n[CLS]\nhello\n");
    expect_error(tmp / "no_sep.txt", "[SEP]");
    write_file(tmp / "bad_utf8.txt", "[UNK]\n[CLS]\n[SEP]\nhel\xC3lo\n");
    expect_error(tmp / "bad_utf8.txt", "invalid UTF-8");
    expect_error(tmp / "bad_utf8.txt", "line 4");

    std::string msg = error_of([&] { load_tokenizer(tmp.path()); });
    EXPECT_NE(msg.find(tmp.path().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("vocab.txt"), std::string::npos) << msg;
    msg = error_of([&] { load_tokenizer(tmp / "nowhere"); });
    EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;

    testing::TempDir bad_json;
    write_file(bad_json / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\n");
    write_file(bad_json / "tokenizer_config.json", "{\"do_lower_case\": tru");
    msg = error_of([&] { load_tokenizer(bad_json.path()); });
    EXPECT_NE(msg.find("tokenizer_config.json"), std::string::npos) << msg;
    write_file(bad_json / "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    msg = error_of([&] { load_tokenizer(bad_json.path()); });
    EXPECT_NE(msg.find("do_lower_case"), std::string::npos) << msg;

    testing::TempDir bad_spm;
    write_file(bad_spm / "spiece.model", "not a model");
    msg = error_of([&] { load_tokenizer(bad_spm.path()); });
    EXPECT_NE(msg.find((bad_spm / "spiece.model").string()), std::string::npos) << msg;
}

TEST(TokenizerErrors, MaxLenTooSmall) {
    testing::TempDir tmp;
    write_file(tmp / "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nab\n");
    WordPieceTokenizer tok(tmp / "vocab.txt");
    EXPECT_NE(error_of([&] { tok.encode("ab", 1); }).find("max_len"), std::string::npos);
    EXPECT_THROW(tok.encode("ab", 0), Error);
    EXPECT_THROW(tok.encode("ab", -5), Error);
    EXPECT_NE(error_of([&] { tok.encode_pair("ab", "ab", 2); }).find("max_len"), std::string::npos);
    EXPECT_EQ(tok.encode("ab ab", 2).ids, (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(tok.encode_pair("ab", "ab", 3).ids, (std::vector<int32_t>{1, 2, 2}));
    EXPECT_EQ(tok.encode_pair("ab", "ab", 4).ids, (std::vector<int32_t>{1, 2, 3, 2}));
}

// ---- Speed ------------------------------------------------------------------------------------

TEST(TokenizerSpeed, Sst2Train) {
    FWSVD_REQUIRE_SHARED();
    const fs::path dir = testing::shared_dir();
    std::ifstream in(dir / "data" / "glue" / "SST-2" / "train.tsv");
    ASSERT_TRUE(in);
    std::vector<std::string> sentences;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) sentences.push_back(line.substr(0, line.find('\t')));
    std::unique_ptr<Tokenizer> tok = load_tokenizer(dir / "models" / "bert-mini-uncased");
    const auto t0 = std::chrono::steady_clock::now();
    size_t tokens = 0;
    for (const std::string& s : sentences) tokens += tok->encode(s, 128).ids.size();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[ speed    ] SST-2 train: " << sentences.size() << " sentences, " << tokens
              << " ids in " << secs << " s\n";
    EXPECT_EQ(sentences.size(), 67349u);
}

}  // namespace
}  // namespace fwsvd
