#include "models/bert_params.h"

#include "runtime/error.h"

namespace fwsvd {

std::vector<std::string> encoder_linear_prefixes(int64_t layer) {
    const std::string p = "bert.encoder.layer." + std::to_string(layer) + ".";
    return {p + "attention.self.query",   p + "attention.self.key", p + "attention.self.value",
            p + "attention.output.dense", p + "intermediate.dense", p + "output.dense"};
}

std::vector<std::string> encoder_linear_prefixes(const BertConfig& config) {
    std::vector<std::string> out;
    for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
        for (auto& p : encoder_linear_prefixes(l)) out.push_back(std::move(p));
    }
    return out;
}

std::pair<int64_t, int64_t> linear_shape(const BertConfig& c, const std::string& prefix) {
    const int64_t h = c.hidden_size, i = c.intermediate_size;
    auto ends_with = [&](const char* s) {
        std::string suf(s);
        return prefix.size() >= suf.size() &&
               prefix.compare(prefix.size() - suf.size(), suf.size(), suf) == 0;
    };
    if (prefix == "classifier") return {h, c.num_labels()};
    if (ends_with("intermediate.dense")) return {h, i};
    if (ends_with(".output.dense") && !ends_with("attention.output.dense")) return {i, h};
    return {h, h};
}

ParamLayout::ParamLayout(const BertConfig& config, const LayoutOptions& options)
    : config_(config), options_(options) {
    const int64_t h = config.hidden_size;
    add("bert.embeddings.word_embeddings.weight", {config.vocab_size, h}, ParamKind::embedding);
    add("bert.embeddings.position_embeddings.weight", {config.max_position_embeddings, h},
        ParamKind::embedding);
    add("bert.embeddings.token_type_embeddings.weight", {config.type_vocab_size, h},
        ParamKind::embedding);
    add("bert.embeddings.LayerNorm.weight", {h}, ParamKind::layernorm);
    add("bert.embeddings.LayerNorm.bias", {h}, ParamKind::layernorm);
    for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
        const auto lin = encoder_linear_prefixes(l);
        const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
        for (int k = 0; k < 4; ++k) {
            auto [in, out] = linear_shape(config, lin[size_t(k)]);
            add_linear(lin[size_t(k)], in, out);
        }
        add(p + "attention.output.LayerNorm.weight", {h}, ParamKind::layernorm);
        add(p + "attention.output.LayerNorm.bias", {h}, ParamKind::layernorm);
        for (int k = 4; k < 6; ++k) {
            auto [in, out] = linear_shape(config, lin[size_t(k)]);
            add_linear(lin[size_t(k)], in, out);
        }
        add(p + "output.LayerNorm.weight", {h}, ParamKind::layernorm);
        add(p + "output.LayerNorm.bias", {h}, ParamKind::layernorm);
    }
    if (options.pooler) add_linear("bert.pooler.dense", h, h);
    if (options.classifier) add_linear("classifier", h, config.num_labels());
    for (const auto& [prefix, r] : options.ranks) {
        FWSVD_CHECK(index_.count(prefix + ".bias"), "rank given for unknown linear layer '", prefix,
                    "'");
        FWSVD_CHECK(r >= 0, "negative rank for '", prefix, "'");
    }
}

void ParamLayout::add(const std::string& name, Shape shape, ParamKind kind,
                      const std::string& linear) {
    ParamEntry e;
    e.name = name;
    e.numel = shape_numel(shape);
    // 2^48 floats (1 PiB) is far beyond any model; the bound keeps the offsets from overflowing.
    constexpr int64_t kMaxFloats = int64_t(1) << 48;
    FWSVD_CHECK(e.numel <= kMaxFloats && total_ <= kMaxFloats - e.numel, "parameter '", name,
                "' of shape ", shape_str(shape), " makes the model larger than 2^48 floats");
    e.shape = std::move(shape);
    e.offset = total_;
    e.kind = kind;
    e.linear = linear;
    total_ += (e.numel + 15) / 16 * 16;  // keep every tensor 64-byte aligned
    index_[name] = entries_.size();
    entries_.push_back(std::move(e));
}

void ParamLayout::add_linear(const std::string& prefix, int64_t in, int64_t out) {
    int64_t r = rank(prefix);
    if (r > 0) {
        add(prefix + ".weight_a", {r, in}, ParamKind::linear_factor, prefix);
        add(prefix + ".weight_b", {out, r}, ParamKind::linear_factor, prefix);
    } else {
        add(prefix + ".weight", {out, in}, ParamKind::linear_weight, prefix);
    }
    add(prefix + ".bias", {out}, ParamKind::bias, prefix);
}

int64_t ParamLayout::rank(const std::string& prefix) const {
    auto it = options_.ranks.find(prefix);
    return it == options_.ranks.end() ? 0 : it->second;
}

const ParamEntry* ParamLayout::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

BertParams ParamLayout::bind(float* base) const {
    return bind([&](size_t i) { return base + entries_[i].offset; });
}

BertParams ParamLayout::bind(const std::function<float*(size_t)>& data_of) const {
    auto ptr = [&](const std::string& name) -> float* {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : data_of(it->second);
    };
    auto linear = [&](const std::string& prefix) {
        LinearParams lp;
        auto [in, out] = linear_shape(config_, prefix);
        lp.in = in;
        lp.out = out;
        lp.rank = rank(prefix);
        if (lp.rank > 0) {
            lp.a = ptr(prefix + ".weight_a");
            lp.b = ptr(prefix + ".weight_b");
        } else {
            lp.weight = ptr(prefix + ".weight");
        }
        lp.bias = ptr(prefix + ".bias");
        return lp;
    };
    BertParams p;
    p.word_emb = ptr("bert.embeddings.word_embeddings.weight");
    p.pos_emb = ptr("bert.embeddings.position_embeddings.weight");
    p.type_emb = ptr("bert.embeddings.token_type_embeddings.weight");
    p.emb_ln_gamma = ptr("bert.embeddings.LayerNorm.weight");
    p.emb_ln_beta = ptr("bert.embeddings.LayerNorm.bias");
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
        const auto lin = encoder_linear_prefixes(l);
        const std::string pre = "bert.encoder.layer." + std::to_string(l) + ".";
        LayerParams lp;
        lp.query = linear(lin[0]);
        lp.key = linear(lin[1]);
        lp.value = linear(lin[2]);
        lp.attn_out = linear(lin[3]);
        lp.attn_ln_gamma = ptr(pre + "attention.output.LayerNorm.weight");
        lp.attn_ln_beta = ptr(pre + "attention.output.LayerNorm.bias");
        lp.inter = linear(lin[4]);
        lp.out = linear(lin[5]);
        lp.out_ln_gamma = ptr(pre + "output.LayerNorm.weight");
        lp.out_ln_beta = ptr(pre + "output.LayerNorm.bias");
        p.layers.push_back(lp);
    }
    if (options_.pooler) p.pooler = linear("bert.pooler.dense");
    if (options_.classifier) p.classifier = linear("classifier");
    return p;
}

}  // namespace fwsvd
