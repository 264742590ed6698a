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
    return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<int32_t> SentencePieceTokenizer::tokenize_prefix(std::string_view text,
                                                             size_t max_tokens) const {
    std::vector<int32_t> ids = tokenize(text);
    if (ids.size() <= max_tokens) return ids;
    size_t end = max_tokens;
    while (end < ids.size() && processor_->IdToPiece(ids[end]).rfind("\xE2\x96\x81", 0) != 0) ++end;
    ids.resize(end);
    return ids;
}

int64_t SentencePieceTokenizer::vocab_size() const {
    return processor_->GetPieceSize();
}

std::string SentencePieceTokenizer::id_to_token(int32_t id) const {
    FWSVD_CHECK(id >= 0 && id < processor_->GetPieceSize(), model_file_.string(), ": id ", id,
                " is outside the vocabulary (size ", processor_->GetPieceSize(), ")");
    return processor_->IdToPiece(id);
}

}  // namespace fwsvd
