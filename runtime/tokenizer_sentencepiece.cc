#include "runtime/tokenizer_sentencepiece.h"

#include <sentencepiece_processor.h>

#include "runtime/error.h"
#include "runtime/tokenizer_json.h"
#include "runtime/unicode.h"

namespace fwsvd {

namespace fs = std::filesystem;

SentencePieceOptions read_sentencepiece_options(const fs::path& model_dir) {
    using namespace tokenizer_json;
    SentencePieceOptions o;
    std::error_code ec;
    const fs::path tc = model_dir / "tokenizer_config.json";
    if (!fs::exists(tc, ec)) return o;
    nlohmann::json c = read_object(tc);
    if (auto v = get_bool(c, "do_lower_case", tc)) o.do_lower_case = *v;
    if (auto v = get_token(c, "cls_token", tc)) o.cls_token = *v;
    if (auto v = get_token(c, "sep_token", tc)) o.sep_token = *v;
    if (auto v = get_token(c, "pad_token", tc)) o.pad_token = *v;
    if (auto v = get_token(c, "unk_token", tc)) o.unk_token = *v;
    if (auto v = get_token(c, "mask_token", tc)) o.mask_token = *v;
    return o;
}

SentencePieceTokenizer::SentencePieceTokenizer(const fs::path& model_file,
                                               SentencePieceOptions options)
    : model_file_(model_file),
      options_(std::move(options)),
      processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
    const std::string where = model_file.string();
    std::error_code ec;
    FWSVD_CHECK(fs::exists(model_file, ec), where, ": SentencePiece model not found");
    const auto status = processor_->Load(where);
    FWSVD_CHECK(status.ok(), where, ": cannot load the SentencePiece model: ", status.ToString());

    if (options_.fairseq_ids) {
        // transformers' XLMRobertaTokenizer: fairseq's four specials first, then the pieces.
        const int32_t n = processor_->GetPieceSize();
        fairseq_specials_ = {
            {"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}, {options_.mask_token, n + 1}};
        std::stable_sort(
            fairseq_specials_.begin(), fairseq_specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
        cls_id_ = bos_id_ = 0;
        pad_id_ = 1;
        sep_id_ = eos_id_ = 2;
        unk_id_ = 3;
        mask_id_ = n + 1;
        template_ = PostTemplate::roberta(0, 2);
        return;
    }
    auto special = [&](const std::string& piece, int fallback, const char* what) {
        int32_t id = piece_to_id(piece);
        if (id >= 0) return id;
        FWSVD_CHECK(fallback >= 0, where, ": the model has no ", what, " piece \"", piece, "\"");
        return int32_t(fallback);
    };
    cls_id_ = special(options_.cls_token, processor_->bos_id(), "classifier");
    sep_id_ = special(options_.sep_token, processor_->eos_id(), "separator");
    unk_id_ = special(options_.unk_token, processor_->unk_id(), "unknown");
    pad_id_ = special(options_.pad_token, std::max(processor_->pad_id(), 0), "padding");
    bos_id_ = cls_id_;
    eos_id_ = sep_id_;
    template_ = PostTemplate::bert(cls_id_, sep_id_);
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

int32_t SentencePieceTokenizer::piece_to_id(std::string_view piece) const {
    if (piece.empty()) return -1;
    const int id = processor_->PieceToId(absl::string_view(piece.data(), piece.size()));
    if (id < 0 || id >= processor_->GetPieceSize()) return -1;
    return processor_->IdToPiece(id) == piece ? int32_t(id) : -1;
}

std::vector<int32_t> SentencePieceTokenizer::tokenize(std::string_view text) const {
    unicode::check_utf8(text, "tokenizer: text");
    if (!options_.fairseq_ids) return encode_segment(text);
    // Split off the special tokens (the mask one takes the whitespace before it, lstrip).
    std::vector<int32_t> ids;
    size_t pos = 0, i = 0;
    while (i < text.size()) {
        const std::pair<std::string, int32_t>* found = nullptr;
        for (const auto& sp : fairseq_specials_) {
            if (!sp.first.empty() && text.compare(i, sp.first.size(), sp.first) == 0) {
                found = &sp;
                break;
            }
        }
        if (!found) {
            ++i;
            continue;
        }
        size_t start = i;
        if (found->second == mask_id_) {
            while (start > pos &&
                   unicode::is_whitespace(static_cast<unsigned char>(text[start - 1]))) {
                --start;
            }
        }
        if (start > pos) {
            std::vector<int32_t> seg = encode_segment(text.substr(pos, start - pos));
            ids.insert(ids.end(), seg.begin(), seg.end());
        }
        ids.push_back(found->second);
        i = pos = i + found->first.size();
    }
    if (pos < text.size()) {
        std::vector<int32_t> seg = encode_segment(text.substr(pos));
        ids.insert(ids.end(), seg.begin(), seg.end());
    }
    return ids;
}

std::vector<int32_t> SentencePieceTokenizer::encode_segment(std::string_view text) const {
    std::string lowered;
    if (options_.do_lower_case) {
        lowered.reserve(text.size());
        char32_t buf[2];
        size_t pos = 0;
        while (pos < text.size()) {
            int n = unicode::to_lower(unicode::next_code_point(text, pos), buf);
            for (int k = 0; k < n; ++k) unicode::append_utf8(lowered, buf[k]);
        }
        text = lowered;
    }
    std::vector<int> ids;
    const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
    FWSVD_CHECK(status.ok(), model_file_.string(),
                ": SentencePiece encoding failed: ", status.ToString());
    if (options_.fairseq_ids) {
        // transformers: a piece's id + 1, the unknown piece (SentencePiece id 0) -> <unk>.
        std::vector<int32_t> out;
        out.reserve(ids.size());
        for (int id : ids) out.push_back(id == 0 || processor_->IsUnknown(id) ? 3 : id + 1);
        return out;
    }
    return std::vector<int32_t>(ids.begin(), ids.end());
}

int64_t SentencePieceTokenizer::vocab_size() const {
    return processor_->GetPieceSize() + (options_.fairseq_ids ? 2 : 0);
}

std::string SentencePieceTokenizer::id_to_token(int32_t id) const {
    if (options_.fairseq_ids) {
        for (const auto& sp : fairseq_specials_) {
            if (sp.second == id) return sp.first;
        }
        FWSVD_CHECK(id > 3 && id <= processor_->GetPieceSize(), model_file_.string(), ": id ", id,
                    " is outside the vocabulary (size ", vocab_size(), ")");
        return processor_->IdToPiece(id - 1);
    }
    FWSVD_CHECK(id >= 0 && id < processor_->GetPieceSize(), model_file_.string(), ": id ", id,
                " is outside the vocabulary (size ", processor_->GetPieceSize(), ")");
    return processor_->IdToPiece(id);
}

}  // namespace fwsvd
