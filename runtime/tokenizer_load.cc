// load_tokenizer: which tokenizer a model folder holds, and the family conventions that its files
// leave open (special tokens, templates), as transformers' tokenizer classes apply them.
#include <sentencepiece_processor.h>

#include <climits>

#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/read_file.h"
#include "runtime/tokenizer.h"
#include "runtime/tokenizer_json.h"
#include "runtime/tokenizer_pipeline.h"
#include "runtime/tokenizer_sentencepiece.h"
#include "runtime/tokenizer_wordpiece.h"
#include "runtime/unicode.h"

namespace fwsvd {

namespace fs = std::filesystem;
using namespace tokenizer_json;
using nlohmann::json;

namespace {

// The special token strings of a family (transformers' defaults of its tokenizer class).
struct FamilyTokens {
    std::string cls, sep, pad, unk, bos, eos, mask;
    bool roberta_template = false;  // <s> A </s></s> B </s>, types 0
};

FamilyTokens family_tokens(std::string_view family) {
    if (family == "roberta" || family == "xlm-roberta") {
        return {"<s>", "</s>", "<pad>", "<unk>", "<s>", "</s>", "<mask>", true};
    }
    if (family == "albert") return {"[CLS]", "[SEP]", "<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"};
    return {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "", "", "[MASK]"};
}

// "bert", "roberta", ... from a tokenizer class name ("XLMRobertaTokenizerFast").
std::string family_of_class(std::string cls) {
    for (const char* suffix : {"TokenizerFast", "Tokenizer"}) {
        const std::string s = suffix;
        if (cls.size() > s.size() && cls.compare(cls.size() - s.size(), s.size(), s) == 0) {
            cls.resize(cls.size() - s.size());
            break;
        }
    }
    if (cls == "Bert") return "bert";
    if (cls == "DistilBert") return "distilbert";
    if (cls == "Electra") return "electra";
    if (cls == "Roberta") return "roberta";
    if (cls == "XLMRoberta") return "xlm-roberta";
    if (cls == "Albert") return "albert";
    return "";
}

// The family: the hint, else tokenizer_config.json's tokenizer_class, else config.json's
// model_type ("" when none says).
std::string family_of(const fs::path& dir, std::string_view hint) {
    if (!hint.empty()) return std::string(hint);
    std::error_code ec;
    const fs::path tc = dir / "tokenizer_config.json";
    if (fs::exists(tc, ec)) {
        const json c = read_object(tc);
        auto it = c.find("tokenizer_class");
        if (it != c.end() && it->is_string()) {
            std::string f = family_of_class(it->get<std::string>());
            if (!f.empty()) return f;
        }
    }
    const fs::path cfg = dir / "config.json";
    if (fs::exists(cfg, ec)) {
        const json c = read_object(cfg);
        auto it = c.find("model_type");
        if (it != c.end() && it->is_string()) return it->get<std::string>();
    }
    return "";
}

// The special token strings: the family's defaults, then tokenizer_config.json's.
FamilyTokens special_tokens(const fs::path& dir, std::string_view family) {
    FamilyTokens t = family_tokens(family);
    std::error_code ec;
    const fs::path tc = dir / "tokenizer_config.json";
    if (!fs::exists(tc, ec)) return t;
    const json c = read_object(tc);
    for (auto [key, field] : {std::pair{"cls_token", &t.cls},
                              {"sep_token", &t.sep},
                              {"pad_token", &t.pad},
                              {"unk_token", &t.unk},
                              {"bos_token", &t.bos},
                              {"eos_token", &t.eos},
                              {"mask_token", &t.mask}}) {
        if (auto v = get_token(c, key, tc)) *field = *v;
    }
    return t;
}

// tokenizer_config.json's added_tokens_decoder (what transformers adds on top of the files).
std::vector<pipeline::AddedTokenSpec> config_added_tokens(const fs::path& dir) {
    std::vector<pipeline::AddedTokenSpec> out;
    std::error_code ec;
    const fs::path tc = dir / "tokenizer_config.json";
    if (!fs::exists(tc, ec)) return out;
    const json c = read_object(tc);
    auto dec = c.find("added_tokens_decoder");
    if (dec == c.end() || !dec->is_object()) return out;
    for (const auto& [key, t] : dec->items()) {
        const bool digits = !key.empty() && key.size() <= 9 &&
                            key.find_first_not_of("0123456789") == std::string::npos;
        FWSVD_CHECK(digits, tc.string(), ": \"added_tokens_decoder\" key \"", key,
                    "\" is not an id");
        FWSVD_CHECK(t.is_object() && t.contains("content") && t["content"].is_string(), tc.string(),
                    ": malformed entry in \"added_tokens_decoder\": ", json_brief(t));
        pipeline::AddedTokenSpec a;
        a.id = int32_t(std::stol(key));
        a.content = t["content"].get<std::string>();
        a.normalized = get_bool(t, "normalized", tc).value_or(false);
        a.lstrip = get_bool(t, "lstrip", tc).value_or(false);
        a.rstrip = get_bool(t, "rstrip", tc).value_or(false);
        a.single_word = get_bool(t, "single_word", tc).value_or(false);
        out.push_back(std::move(a));
    }
    return out;
}

bool has_specials(const PostTemplate& t) {
    return t.num_special(false) > 0 || t.num_special(true) > 0;
}

// The special ids of a pipeline tokenizer: the family's token strings looked up in the added
// tokens and the vocabulary; [CLS] / [SEP] fall back to the template's first and last special.
SpecialIds pipeline_special_ids(const PipelineTokenizer& probe, const FamilyTokens& t,
                                const PostTemplate& templ) {
    auto id = [&](const std::string& s) { return s.empty() ? -1 : probe.token_to_id(s); };
    SpecialIds ids;
    ids.cls = id(t.cls);
    ids.sep = id(t.sep);
    ids.unk = id(t.unk);
    ids.pad = std::max(id(t.pad), 0);
    ids.bos = id(t.bos);
    ids.eos = id(t.eos);
    ids.mask = id(t.mask);
    std::vector<int32_t> specials;
    for (const TemplateItem& item : templ.single) {
        specials.insert(specials.end(), item.ids.begin(), item.ids.end());
    }
    if (ids.cls < 0 && !specials.empty()) ids.cls = specials.front();
    if (ids.sep < 0 && !specials.empty()) ids.sep = specials.back();
    return ids;
}

// Builds a PipelineTokenizer twice: once to look the special tokens up, once with the ids.
std::unique_ptr<Tokenizer> make_pipeline(pipeline::PipelineParts parts, const FamilyTokens& t,
                                         PostTemplate templ, const std::string& where) {
    // The lookups need the added tokens and the model only.
    pipeline::PipelineParts probe_parts;
    probe_parts.source = parts.source;
    probe_parts.added_tokens = parts.added_tokens;
    struct Borrowed final : pipeline::Model {
        const pipeline::Model* m;
        explicit Borrowed(const pipeline::Model* x) : m(x) {}
        void tokenize(std::string_view p, std::vector<int32_t>& ids) const override {
            m->tokenize(p, ids);
        }
        int32_t token_to_id(std::string_view s) const override { return m->token_to_id(s); }
        const std::string* id_to_token(int32_t id) const override { return m->id_to_token(id); }
        int64_t vocab_size() const override { return m->vocab_size(); }
    };
    probe_parts.model = std::make_unique<Borrowed>(parts.model.get());
    const PipelineTokenizer probe(std::move(probe_parts), SpecialIds{}, templ);
    SpecialIds ids = pipeline_special_ids(probe, t, templ);
    if (!has_specials(templ)) {
        FWSVD_CHECK(ids.cls >= 0 && ids.sep >= 0, where,
                    ": no post-processor and no classifier / separator tokens (\"", t.cls, "\", \"",
                    t.sep, "\") to build the sequence template from");
        templ = t.roberta_template ? PostTemplate::roberta(ids.cls, ids.sep)
                                   : PostTemplate::bert(ids.cls, ids.sep);
    }
    FWSVD_CHECK(ids.cls >= 0 && ids.sep >= 0, where, ": no classifier / separator token (\"", t.cls,
                "\", \"", t.sep, "\")");
    return std::make_unique<PipelineTokenizer>(std::move(parts), ids, std::move(templ));
}

template <typename Family>
std::unique_ptr<Tokenizer> load_json(const fs::path& dir, const Family& family,
                                     bool generic_pipeline) {
    const fs::path tj = dir / "tokenizer.json";
    ParsedTokenizerJson parsed = parse_tokenizer_json(tj);
    PostTemplate templ = std::move(*parsed.post_template);
    if (!generic_pipeline && parsed.normalizer_type == "BertNormalizer" &&
        parsed.pre_tokenizer_type == "BertPreTokenizer" && parsed.model_type == "WordPiece") {
        // The BERT shape: the WordPiece tokenizer (its fast prefix tokenization), with the
        // vocabulary of tokenizer.json and the options of both files.
        WordPieceOptions o = read_wordpiece_options(dir);
        if (has_specials(templ)) o.post_template = templ;
        return std::make_unique<WordPieceTokenizer>(std::move(parsed.vocab_tokens), tj,
                                                    std::move(o));
    }
    return make_pipeline(std::move(parsed.parts), special_tokens(dir, family()), std::move(templ),
                         tj.string());
}

// vocab.json + merges.txt: RoBERTa's byte-level BPE (transformers' RobertaTokenizer).
std::unique_ptr<Tokenizer> load_byte_level_bpe(const fs::path& dir, const std::string& family) {
    const fs::path vj = dir / "vocab.json", mt = dir / "merges.txt";
    const std::string where = vj.string();
    const json v = read_object(vj);
    pipeline::Vocab vocab;
    int64_t largest = -1;
    for (const auto& [token, id] : v.items()) {
        FWSVD_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 &&
                        id.get<int64_t>() < (int64_t(1) << 26),
                    where, ": the id of \"", token, "\" must be a small non-negative integer, not ",
                    json_brief(id));
        unicode::check_utf8(token, where + ": token");
        vocab.ids[token] = int32_t(id.get<int64_t>());
        largest = std::max<int64_t>(largest, id.get<int64_t>());
    }
    FWSVD_CHECK(largest >= 0, where, ": empty vocabulary");
    vocab.tokens.assign(size_t(largest + 1), std::string());
    vocab.present.assign(size_t(largest + 1), false);
    for (const auto& [token, id] : vocab.ids) {
        vocab.tokens[size_t(id)] = token;
        vocab.present[size_t(id)] = true;
    }
    const std::string text = read_file(mt, kMaxTokenizerBytes, "merges file");
    unicode::check_utf8(text, mt.string());
    std::vector<std::pair<std::string, std::string>> merges;
    size_t start = 0, line_no = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("#version", 0) == 0 || line.empty()) continue;
        const size_t sp = line.find(' ');
        FWSVD_CHECK(sp != std::string::npos && line.find(' ', sp + 1) == std::string::npos,
                    mt.string(), ":", line_no,
                    ": a merge must be two tokens separated by one space");
        merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    }
    pipeline::PipelineParts parts;
    parts.source = where;
    parts.model = pipeline::make_bpe(std::move(vocab), merges, {}, mt.string());
    bool add_prefix_space = false;
    std::error_code ec;
    if (fs::exists(dir / "tokenizer_config.json", ec)) {
        const fs::path tc = dir / "tokenizer_config.json";
        add_prefix_space = get_bool(read_object(tc), "add_prefix_space", tc).value_or(false);
    }
    parts.pre_tokenizer = pipeline::make_byte_level(add_prefix_space, true);
    FamilyTokens t = special_tokens(dir, family.empty() ? "roberta" : family);
    parts.added_tokens = config_added_tokens(dir);
    if (parts.added_tokens.empty()) {
        // transformers' defaults: the special tokens, matched in the raw text.
        for (const std::string* s : {&t.bos, &t.pad, &t.eos, &t.unk, &t.cls, &t.sep, &t.mask}) {
            const int32_t id = parts.model->token_to_id(*s);
            if (s->empty() || id < 0) continue;
            pipeline::AddedTokenSpec a;
            a.content = *s;
            a.id = id;
            parts.added_tokens.push_back(std::move(a));
        }
    }
    t.roberta_template = true;
    return make_pipeline(std::move(parts), t, PostTemplate{}, where);
}

// Reads a varint of a protobuf message; false past the end.
bool read_varint(std::string_view b, size_t& i, uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && i < b.size(); shift += 7) {
        const auto c = static_cast<unsigned char>(b[i++]);
        v |= uint64_t(c & 0x7F) << shift;
        if (c < 0x80) return true;
    }
    return false;
}

// The first length-delimited field `field` of a serialized protobuf message ("" when absent);
// false when the message is malformed.
bool proto_bytes(std::string_view msg, uint32_t field, std::string_view& out) {
    size_t i = 0;
    out = {};
    while (i < msg.size()) {
        uint64_t key = 0, v = 0;
        if (!read_varint(msg, i, key)) return false;
        switch (key & 7) {
            case 0:
                if (!read_varint(msg, i, v)) return false;
                break;
            case 1:
                i += 8;
                break;
            case 5:
                i += 4;
                break;
            case 2:
                if (!read_varint(msg, i, v) || v > msg.size() - std::min(i, msg.size()))
                    return false;
                if ((key >> 3) == field && out.empty()) out = msg.substr(i, size_t(v));
                i += size_t(v);
                break;
            default:
                return false;
        }
        if (i > msg.size()) return false;
    }
    return true;
}

// A SentencePiece model (ALBERT's spiece.model, XLM-RoBERTa's sentencepiece.bpe.model) read with
// libsentencepiece into the pipeline that transformers' tokenizer class converts it to: its
// pieces and scores as a Unigram model (fairseq's order for XLM-RoBERTa), the precompiled
// charsmap as the Precompiled normalizer, WhitespaceSplit + Metaspace.
std::unique_ptr<Tokenizer> load_sentencepiece_pipeline(const fs::path& dir, const fs::path& file,
                                                       const std::string& family) {
    const std::string where = file.string();
    sentencepiece::SentencePieceProcessor sp;
    const auto status = sp.Load(where);
    FWSVD_CHECK(status.ok(), where, ": cannot load the SentencePiece model: ", status.ToString());
    const bool xlmr = family == "xlm-roberta";
    std::vector<std::pair<std::string, double>> pieces;
    const int n = sp.GetPieceSize();
    int64_t unk = sp.unk_id();
    FamilyTokens t = special_tokens(dir, family);
    if (xlmr) {
        // XLMRobertaConverter: <s> <pad> </s> <unk>, the pieces after SentencePiece's own three
        // specials, <mask>.
        FWSVD_CHECK(n >= 3, where, ": a SentencePiece model with ", n, " pieces");
        pieces = {{t.bos, 0.0}, {t.pad, 0.0}, {t.eos, 0.0}, {t.unk, 0.0}};
        for (int i = 3; i < n; ++i) pieces.emplace_back(sp.IdToPiece(i), double(sp.GetScore(i)));
        pieces.emplace_back(t.mask, 0.0);
        unk = 3;
    } else {
        for (int i = 0; i < n; ++i) pieces.emplace_back(sp.IdToPiece(i), double(sp.GetScore(i)));
    }
    std::string_view charsmap, normalizer_spec;
    const std::string proto(sp.serialized_model_proto());
    FWSVD_CHECK(proto_bytes(proto, 3, normalizer_spec) && proto_bytes(normalizer_spec, 2, charsmap),
                where, ": malformed SentencePiece model (normalizer_spec)");

    bool do_lower_case = !xlmr, keep_accents = xlmr, add_prefix_space = true;
    std::error_code ec;
    const fs::path tc = dir / "tokenizer_config.json";
    if (fs::exists(tc, ec)) {
        const json c = read_object(tc);
        do_lower_case = get_bool(c, "do_lower_case", tc).value_or(do_lower_case);
        keep_accents = get_bool(c, "keep_accents", tc).value_or(keep_accents);
        add_prefix_space = get_bool(c, "add_prefix_space", tc).value_or(add_prefix_space);
    }
    pipeline::PipelineParts parts;
    parts.source = where;
    std::vector<std::unique_ptr<pipeline::Normalizer>> norm;
    if (!xlmr) {  // AlbertTokenizer's normalizers
        norm.push_back(pipeline::make_replace(pipeline::ReplacePattern{U"``", 0, 0}, U"\""));
        norm.push_back(pipeline::make_replace(pipeline::ReplacePattern{U"''", 0, 0}, U"\""));
        if (!keep_accents) {
            norm.push_back(pipeline::make_unicode_normalizer(pipeline::NormalForm::kNFKD));
            norm.push_back(pipeline::make_strip_accents());
        }
        if (do_lower_case) norm.push_back(pipeline::make_lowercase());
    }
    if (!charsmap.empty()) norm.push_back(pipeline::make_precompiled(std::string(charsmap), where));
    parts.normalizer = pipeline::make_normalizer_sequence(std::move(norm));
    std::vector<std::unique_ptr<pipeline::PreTokenizer>> pre;
    pre.push_back(pipeline::make_whitespace_split());
    pre.push_back(pipeline::make_metaspace(
        U'\u2581',
        add_prefix_space ? pipeline::PrependScheme::kAlways : pipeline::PrependScheme::kNever,
        true));
    parts.pre_tokenizer = pipeline::make_pre_tokenizer_sequence(std::move(pre));
    parts.model = pipeline::make_unigram(pieces, unk, false, where);
    parts.added_tokens = config_added_tokens(dir);
    if (parts.added_tokens.empty()) {
        for (const std::string* s : {&t.bos, &t.pad, &t.eos, &t.unk, &t.cls, &t.sep, &t.mask}) {
            const int32_t id = parts.model->token_to_id(*s);
            if (s->empty() || id < 0) continue;
            pipeline::AddedTokenSpec a;
            a.content = *s;
            a.id = id;
            parts.added_tokens.push_back(std::move(a));
        }
    }
    return make_pipeline(std::move(parts), t, PostTemplate{}, where);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir) {
    return load_tokenizer(model_dir, TokenizerLoadOptions{});
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir,
                                          std::string_view model_type_hint) {
    TokenizerLoadOptions o;
    o.model_type_hint = std::string(model_type_hint);
    return load_tokenizer(model_dir, o);
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& model_dir,
                                          const TokenizerLoadOptions& options) {
    using Files = TokenizerLoadOptions::Files;
    std::error_code ec;
    FWSVD_CHECK(fs::is_directory(model_dir, ec), model_dir.string(),
                ": not a folder (expected a model folder with tokenizer.json, vocab.txt, "
                "vocab.json + merges.txt, spiece.model or sentencepiece.bpe.model)");
    // The family is read only where the files leave the conventions open (config.json may be
    // that of a model fwsvd cannot load; a vocab.txt folder does not need it).
    auto family = [&] { return family_of(model_dir, options.model_type_hint); };
    if (options.files == Files::kTokenizerJson ||
        (options.files == Files::kAuto && fs::exists(model_dir / "tokenizer.json", ec))) {
        return load_json(model_dir, family, options.generic_pipeline);
    }
    if (fs::exists(model_dir / "spiece.model", ec)) {
        if (family() == "albert") {
            return load_sentencepiece_pipeline(model_dir, model_dir / "spiece.model", "albert");
        }
        return std::make_unique<SentencePieceTokenizer>(model_dir / "spiece.model",
                                                        read_sentencepiece_options(model_dir));
    }
    if (fs::exists(model_dir / "sentencepiece.bpe.model", ec)) {
        return load_sentencepiece_pipeline(model_dir, model_dir / "sentencepiece.bpe.model",
                                           "xlm-roberta");
    }
    if (fs::exists(model_dir / "vocab.json", ec) && fs::exists(model_dir / "merges.txt", ec)) {
        return load_byte_level_bpe(model_dir, family());
    }
    if (fs::exists(model_dir / "vocab.txt", ec)) {
        return std::make_unique<WordPieceTokenizer>(model_dir / "vocab.txt",
                                                    read_wordpiece_options(model_dir));
    }
    throw Error(str_cat(model_dir.string(),
                        ": no tokenizer found (neither spiece.model nor vocab.txt), nor "
                        "tokenizer.json, vocab.json + merges.txt or sentencepiece.bpe.model"));
}

}  // namespace fwsvd
