#include "models/params.h"

#include "runtime/error.h"

namespace fwsvd {

std::string word_embeddings_prefix(const ModelConfig& c) {
    std::string name = c.model_family().tensor_name(Role::word_emb);
    const std::string suffix = ".weight";
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        name.resize(name.size() - suffix.size());
    }
    return name;
}

bool has_embedding_projection(const ModelConfig& c) {
    const Family& f = c.model_family();
    return f.has(Role::emb_proj) && (f.always_project_embeddings || c.factorized_embeddings());
}

namespace {

// {in, out} of a linear role.
std::pair<int64_t, int64_t> role_shape(const ModelConfig& c, Role role) {
    const int64_t h = c.hidden_size;
    switch (role) {
        case Role::emb_proj:
            return {c.embedding_dim(), h};
        case Role::inter:
            return {h, c.intermediate_size};
        case Role::out:
            return {c.intermediate_size, h};
        case Role::classifier:
            return {h, c.num_labels()};
        default:
            return {h, h};
    }
}

LinearSpec linear_spec(const ModelConfig& c, Role role, int64_t group) {
    LinearSpec s;
    s.prefix = c.model_family().tensor_name(role, group);
    s.role = role;
    s.group = is_layer_role(role) ? group : -1;
    std::tie(s.in, s.out) = role_shape(c, role);
    s.uses = is_layer_role(role) ? c.num_hidden_layers / c.num_layer_groups() : 1;
    return s;
}

}  // namespace

std::vector<LinearSpec> encoder_linears(const ModelConfig& c) {
    std::vector<LinearSpec> out;
    for (int64_t g = 0; g < c.num_layer_groups(); ++g) {
        for (Role role : layer_linear_roles()) out.push_back(linear_spec(c, role, g));
    }
    return out;
}

std::vector<std::string> encoder_linear_prefixes(const ModelConfig& c) {
    std::vector<std::string> out;
    for (auto& s : encoder_linears(c)) out.push_back(std::move(s.prefix));
    return out;
}

std::pair<int64_t, int64_t> linear_shape(const ModelConfig& c, const std::string& prefix) {
    for (const auto& s : encoder_linears(c)) {
        if (s.prefix == prefix) return {s.in, s.out};
    }
    const Family& f = c.model_family();
    for (Role role : {Role::emb_proj, Role::head_dense, Role::classifier}) {
        if (f.has(role) && f.tensor_name(role) == prefix) return role_shape(c, role);
    }
    throw Error(str_cat("'", prefix, "' is not a linear layer of this ", f.name, " model"));
}

ParamLayout::ParamLayout(const ModelConfig& config, const LayoutOptions& options)
    : config_(config), options_(options) {
    const Family& f = config.model_family();
    const int64_t e = config.embedding_dim();
    const std::string word = word_embeddings_prefix(config);
    if (const int64_t r = rank(word); r > 0) {
        add(word + ".weight_a", {config.vocab_size, r}, ParamKind::embedding, Role::word_emb, -1);
        add(word + ".weight_b", {e, r}, ParamKind::embedding, Role::word_emb, -1);
    } else {
        add(f.tensor_name(Role::word_emb), {config.vocab_size, e}, ParamKind::embedding,
            Role::word_emb, -1);
    }
    add(f.tensor_name(Role::pos_emb), {config.max_position_embeddings, e}, ParamKind::embedding,
        Role::pos_emb, -1);
    if (f.has(Role::type_emb)) {
        add(f.tensor_name(Role::type_emb), {config.type_vocab_size, e}, ParamKind::embedding,
            Role::type_emb, -1);
    }
    add_layernorm(Role::emb_ln, -1, e);
    if (has_embedding_projection(config)) {
        const auto [in, out] = role_shape(config, Role::emb_proj);
        add_linear(Role::emb_proj, -1, in, out);
    }
    for (int64_t g = 0; g < config.num_layer_groups(); ++g) {
        for (Role role : {Role::query, Role::key, Role::value, Role::attn_out, Role::attn_ln,
                          Role::inter, Role::out, Role::out_ln}) {
            if (role_kind(role) == RoleKind::layernorm) {
                add_layernorm(role, g, config.hidden_size);
            } else {
                const auto [in, out] = role_shape(config, role);
                add_linear(role, g, in, out);
            }
        }
    }
    if (options.head_dense) {
        const auto [in, out] = role_shape(config, Role::head_dense);
        add_linear(Role::head_dense, -1, in, out);
    }
    if (options.classifier) {
        const auto [in, out] = role_shape(config, Role::classifier);
        add_linear(Role::classifier, -1, in, out);
    }
    for (const auto& [prefix, r] : options.ranks) {
        FWSVD_CHECK(index_.count(prefix + ".bias") || prefix == word,
                    "rank given for unknown linear layer '", prefix, "'");
        FWSVD_CHECK(r >= 0, "negative rank for '", prefix, "'");
    }
}

void ParamLayout::add(const std::string& name, Shape shape, ParamKind kind, Role role,
                      int64_t group, const std::string& linear) {
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
    e.role = role;
    e.group = group;
    e.uses = group >= 0 ? config_.num_hidden_layers / config_.num_layer_groups() : 1;
    shared_ = shared_ || e.uses > 1;
    total_ += (e.numel + 15) / 16 * 16;  // keep every tensor 64-byte aligned
    index_[name] = entries_.size();
    entries_.push_back(std::move(e));
}

void ParamLayout::add_linear(Role role, int64_t group, int64_t in, int64_t out) {
    const std::string prefix = config_.model_family().tensor_name(role, group);
    const int64_t r = rank(prefix);
    if (r > 0) {
        add(prefix + ".weight_a", {r, in}, ParamKind::linear_factor, role, group, prefix);
        add(prefix + ".weight_b", {out, r}, ParamKind::linear_factor, role, group, prefix);
    } else {
        add(prefix + ".weight", {out, in}, ParamKind::linear_weight, role, group, prefix);
    }
    add(prefix + ".bias", {out}, ParamKind::bias, role, group, prefix);
}

void ParamLayout::add_layernorm(Role role, int64_t group, int64_t width) {
    const std::string prefix = config_.model_family().tensor_name(role, group);
    add(prefix + ".weight", {width}, ParamKind::layernorm, role, group);
    add(prefix + ".bias", {width}, ParamKind::layernorm, role, group);
}

int64_t ParamLayout::rank(const std::string& prefix) const {
    auto it = options_.ranks.find(prefix);
    return it == options_.ranks.end() ? 0 : it->second;
}

const ParamEntry* ParamLayout::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

ModelParams ParamLayout::bind(float* base) const {
    return bind([&](size_t i) { return base + entries_[i].offset; });
}

namespace {

// Where an entry's data goes in a LinearParams.
void bind_linear(LinearParams& lp, const ParamEntry& e, float* data) {
    if (e.kind == ParamKind::bias) {
        lp.bias = data;
        lp.out = e.shape[0];
    } else if (e.kind == ParamKind::linear_weight) {
        lp.weight = data;
        lp.out = e.shape[0];
        lp.in = e.shape[1];
    } else if (e.name.size() > 2 && e.name.compare(e.name.size() - 2, 2, "_a") == 0) {
        lp.a = data;
        lp.rank = e.shape[0];
        lp.in = e.shape[1];
    } else {
        lp.b = data;
        lp.out = e.shape[0];
        lp.rank = e.shape[1];
    }
}

void bind_layernorm(float** gamma, float** beta, const ParamEntry& e, float* data) {
    const bool is_gamma = e.name.compare(e.name.size() - 7, 7, ".weight") == 0;
    *(is_gamma ? gamma : beta) = data;
}

}  // namespace

ModelParams ParamLayout::bind(const std::function<float*(size_t)>& data_of) const {
    ModelParams p;
    std::vector<LayerParams> groups(size_t(config_.num_layer_groups()), LayerParams{});
    for (size_t i = 0; i < entries_.size(); ++i) {
        const ParamEntry& e = entries_[i];
        float* data = data_of(i);
        LayerParams* lp = e.group >= 0 ? &groups[size_t(e.group)] : nullptr;
        switch (e.role) {
            case Role::word_emb:
                if (e.name.compare(e.name.size() - 2, 2, "_a") == 0) {
                    p.word_emb_a = data;
                    p.word_emb_rank = e.shape[1];
                } else if (e.name.compare(e.name.size() - 2, 2, "_b") == 0) {
                    p.word_emb_b = data;
                } else {
                    p.word_emb = data;
                }
                break;
            case Role::pos_emb:
                p.pos_emb = data;
                break;
            case Role::type_emb:
                p.type_emb = data;
                break;
            case Role::emb_ln:
                bind_layernorm(&p.emb_ln_gamma, &p.emb_ln_beta, e, data);
                break;
            case Role::emb_proj:
                bind_linear(p.emb_proj, e, data);
                break;
            case Role::query:
                bind_linear(lp->query, e, data);
                break;
            case Role::key:
                bind_linear(lp->key, e, data);
                break;
            case Role::value:
                bind_linear(lp->value, e, data);
                break;
            case Role::attn_out:
                bind_linear(lp->attn_out, e, data);
                break;
            case Role::attn_ln:
                bind_layernorm(&lp->attn_ln_gamma, &lp->attn_ln_beta, e, data);
                break;
            case Role::inter:
                bind_linear(lp->inter, e, data);
                break;
            case Role::out:
                bind_linear(lp->out, e, data);
                break;
            case Role::out_ln:
                bind_layernorm(&lp->out_ln_gamma, &lp->out_ln_beta, e, data);
                break;
            case Role::head_dense:
                bind_linear(p.head_dense, e, data);
                break;
            case Role::classifier:
                bind_linear(p.classifier, e, data);
                break;
        }
    }
    for (int64_t l = 0; l < config_.num_hidden_layers; ++l) {
        p.layers.push_back(groups[size_t(config_.group_of_layer(l))]);
    }
    return p;
}

}  // namespace fwsvd
