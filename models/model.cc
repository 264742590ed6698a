#include "models/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_util.h"
#include "runtime/sha256.h"

namespace fs = std::filesystem;

namespace fwsvd {
namespace {

// Tensors a checkpoint of the family may carry that fwsvd does not use.
bool ignorable(const Family& f, const std::string& name) {
    for (const auto& n : f.ignorable_names) {
        if (name == n) return true;
    }
    for (const auto& p : f.ignorable_prefixes) {
        if (name.rfind(p, 0) == 0) return true;
    }
    return false;
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i)
        s += (i == 0 ? "" : i + 1 == v.size() ? " and " : ", ") + v[i];
    return s;
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
    static const std::vector<std::string> names = {"vocab.txt",
                                                   "tokenizer.json",
                                                   "tokenizer_config.json",
                                                   "special_tokens_map.json",
                                                   "spiece.model",
                                                   "vocab.json",
                                                   "merges.txt",
                                                   "sentencepiece.bpe.model",
                                                   "added_tokens.json"};
    return names;
}

std::map<std::string, int64_t> low_rank_ranks(const ModelConfig& config,
                                              const std::string& source) {
    std::map<std::string, int64_t> ranks;
    auto found = config.raw.find("low_rank");
    if (found == config.raw.end() || found->is_null()) return ranks;
    const nlohmann::json& block = *found;
    FWSVD_CHECK(block.is_object(), source, ": low_rank is ", json_brief(block), ", not an object");
    auto it = block.find("ranks");
    if (it == block.end() || it->is_null()) return ranks;
    FWSVD_CHECK(it->is_object(), source, ": low_rank.ranks is ", json_brief(*it),
                ", not an object of layer -> rank");
    const std::vector<std::string> prefixes = encoder_linear_prefixes(config);
    const std::set<std::string> known(prefixes.begin(), prefixes.end());
    const std::string word = word_embeddings_prefix(config);
    for (const auto& [prefix, r] : it->items()) {
        FWSVD_CHECK(known.count(prefix) || prefix == word, source, ": low_rank.ranks names '",
                    prefix, "', not an encoder linear layer or the word embeddings of this config");
        FWSVD_CHECK(r.is_number_integer(), source, ": low_rank.ranks['", prefix, "'] is ",
                    json_brief(r), ", not an integer");
        const auto [in, out] = prefix == word ? std::pair{config.vocab_size, config.embedding_dim()}
                                              : linear_shape(config, prefix);
        const int64_t rank = r.get<int64_t>();
        FWSVD_CHECK(rank >= 1 && rank <= std::min(in, out), source, ": low_rank.ranks['", prefix,
                    "'] = ", rank, " is out of range [1, ", std::min(in, out), "]");
        ranks[prefix] = rank;
    }
    return ranks;
}

std::shared_ptr<const Model> Model::load(const fs::path& dir, const ModelLoadOptions& options) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw Error(str_cat(dir.string(),
                            ": not a model folder (expected config.json and "
                            "model.safetensors inside)"));
    }
    std::shared_ptr<Model> m(new Model());
    m->dir_ = dir;
    m->config_ = ModelConfig::load(dir / "config.json");
    const Family& family = m->config_.model_family();
    const std::string cfg_name = (dir / "config.json").string();
    for (const auto& arch : m->config_.architectures) {
        if (std::find(family.architectures.begin(), family.architectures.end(), arch) ==
            family.architectures.end()) {
            throw Error(str_cat(cfg_name, ": architecture '", arch,
                                "' is not supported (fwsvd runs ", joined(family.architectures),
                                " checkpoints)"));
        }
    }
    const fs::path weights = dir / "model.safetensors";
    if (!fs::exists(weights, ec)) {
        if (fs::exists(dir / "model.safetensors.index.json", ec)) {
            throw Error(str_cat(dir.string(), ": sharded checkpoints are not supported"));
        }
        if (fs::exists(dir / "pytorch_model.bin", ec)) {
            throw Error(str_cat(dir.string(),
                                ": only model.safetensors is supported (found "
                                "pytorch_model.bin; save with "
                                "safe_serialization=True)"));
        }
        throw Error(str_cat(weights.string(), ": not found"));
    }
    m->file_ = SafetensorsFile::open(weights);
    const SafetensorsFile& f = *m->file_;

    // Checkpoints of the bare base model (BertModel) carry no base prefix ("bert.").
    // (Factored word embeddings are stored as .weight_a / .weight_b.)
    std::string word = family.tensor_name(Role::word_emb);
    const std::string& base = family.base_prefix;
    if (!f.find(word) && f.find(word_embeddings_prefix(m->config_) + ".weight_a")) {
        word = word_embeddings_prefix(m->config_) + ".weight_a";
    }
    const bool prefixed = f.find(word) != nullptr;
    if (!prefixed && !(word.rfind(base, 0) == 0 && f.find(word.substr(base.size())))) {
        std::string seen;
        for (size_t i = 0; i < f.tensors().size() && i < 5; ++i) {
            seen += (i ? ", " : "") + f.tensors()[i].name;
        }
        throw Error(str_cat(weights.string(), ": not a ", family.name, " checkpoint (no ", word,
                            "); found: ", seen.empty() ? "no tensors" : seen));
    }
    auto file_name = [&](const std::string& name) {
        if (prefixed) return name;
        return name.rfind(base, 0) == 0 ? name.substr(base.size()) : name;
    };
    auto lookup = [&](const std::string& name) -> const TensorInfo* {
        return f.find(file_name(name));
    };
    // A layout entry's tensor; old checkpoints name LayerNorm parameters gamma/beta.
    auto lookup_entry = [&](const ParamEntry& e) -> const TensorInfo* {
        if (const TensorInfo* t = lookup(e.name)) return t;
        if (e.kind != ParamKind::layernorm) return nullptr;
        auto swap = [&](const std::string& from, const std::string& to) -> const TensorInfo* {
            if (e.name.size() > from.size() &&
                e.name.compare(e.name.size() - from.size(), from.size(), from) == 0) {
                return lookup(e.name.substr(0, e.name.size() - from.size()) + to);
            }
            return nullptr;
        };
        if (const TensorInfo* t = swap(".weight", ".gamma")) return t;
        return swap(".bias", ".beta");
    };

    LayoutOptions lo;
    for (const auto& prefix : encoder_linear_prefixes(m->config_)) {
        if (const TensorInfo* a = lookup(prefix + ".weight_a")) {
            FWSVD_CHECK(a->shape.size() == 2 && a->shape[0] > 0, weights.string(), ": tensor '",
                        a->name, "' has shape ", shape_str(a->shape), ", expected [rank, in]");
            lo.ranks[prefix] = a->shape[0];
        }
    }
    // Factored word embeddings: weight_a [V, r].
    const std::string word_prefix = word_embeddings_prefix(m->config_);
    if (const TensorInfo* a = lookup(word_prefix + ".weight_a")) {
        FWSVD_CHECK(a->shape.size() == 2 && a->shape[1] > 0, weights.string(), ": tensor '",
                    a->name, "' has shape ", shape_str(a->shape), ", expected [vocab, rank]");
        lo.ranks[word_prefix] = a->shape[1];
    }
    // A low_rank block that records ranks must agree with the factors in the file.
    const std::map<std::string, int64_t> recorded = low_rank_ranks(m->config_, cfg_name);
    if (!recorded.empty()) {
        for (const auto& [prefix, r] : recorded) {
            auto it = lo.ranks.find(prefix);
            FWSVD_CHECK(it != lo.ranks.end(), weights.string(), ": ", cfg_name, " records rank ", r,
                        " for '", prefix, "' but the checkpoint has no '",
                        file_name(prefix + ".weight_a"), "'");
            FWSVD_CHECK(it->second == r, weights.string(), ": tensor '",
                        file_name(prefix + ".weight_a"), "' has rank ", it->second, " but ",
                        cfg_name, " records rank ", r);
        }
        for (const auto& [prefix, r] : lo.ranks) {
            FWSVD_CHECK(recorded.count(prefix), weights.string(), ": '",
                        file_name(prefix + ".weight_a"), "' is factored (rank ", r, ") but ",
                        cfg_name, " low_rank.ranks does not list it");
        }
    }
    const std::string dense = family.tensor_name(Role::head_dense);
    const std::string cls = family.tensor_name(Role::classifier);
    lo.head_dense = lookup(dense + ".weight") || lookup(dense + ".weight_a");
    lo.classifier = lookup(cls + ".weight") || lookup(cls + ".bias");
    if (options.require_classifier && !lo.classifier) {
        throw Error(str_cat(weights.string(), ": no classifier head (", cls,
                            ".weight): this is a base-model or masked-LM checkpoint; train a head "
                            "with `fwsvd finetune --num-labels N` first"));
    }
    if (lo.classifier) {
        const TensorInfo* cw = lookup(cls + ".weight");
        FWSVD_CHECK(cw && cw->shape.size() == 2, weights.string(), ": ", cls,
                    ".weight missing or not a matrix");
        FWSVD_CHECK(cw->shape[0] == m->config_.num_labels(), weights.string(), ": ", cls,
                    ".weight has ", cw->shape[0], " rows but ", cfg_name, " has ",
                    m->config_.num_labels(), " labels (id2label)");
        FWSVD_CHECK(lo.head_dense, weights.string(), ": ", cls, " without ", dense);
    }
    m->layout_ = ParamLayout(m->config_, lo);

    // Bind every entry: a view into the mapping when F32 and aligned, else a converted copy.
    int64_t convert_floats = 0;
    std::vector<const TensorInfo*> infos;
    std::set<std::string> used;
    for (const auto& e : m->layout_.entries()) {
        const TensorInfo* t = lookup_entry(e);
        if (!t) {
            throw Error(str_cat(weights.string(), ": tensor '", file_name(e.name),
                                "' not found (the checkpoint does not match config.json)"));
        }
        if (t->shape != e.shape) {
            throw Error(str_cat(weights.string(), ": tensor '", t->name, "' has shape ",
                                shape_str(t->shape), ", expected ", shape_str(e.shape),
                                " from config.json"));
        }
        if (!f.f32_view(t->name)) convert_floats += (e.numel + 15) / 16 * 16;
        infos.push_back(t);
        used.insert(t->name);
    }
    std::vector<std::string> unknown;
    for (const auto& t : f.tensors()) {
        if (!used.count(t.name) && !ignorable(family, t.name)) unknown.push_back(t.name);
    }
    if (!unknown.empty()) {
        std::string list;
        for (size_t i = 0; i < unknown.size() && i < 5; ++i) list += (i ? ", " : "") + unknown[i];
        throw Error(str_cat(weights.string(), ": ", unknown.size(),
                            " tensor(s) fwsvd does not know (", list, "): not a supported ",
                            family.name, " checkpoint"));
    }
    m->owned_ = Tensor::zeros({convert_floats});
    float* next = m->owned_.data<float>();
    for (size_t i = 0; i < infos.size(); ++i) {
        const TensorInfo* t = infos[i];
        const float* view = f.f32_view(t->name);
        if (!view) {
            convert_to_f32(next, t->data, t->dtype, t->numel);
            view = next;
            next += (t->numel + 15) / 16 * 16;
        }
        for (int64_t k = 0; k < t->numel; ++k) {
            if (!std::isfinite(view[k])) {
                throw Error(str_cat(weights.string(), ": tensor '", t->name,
                                    "' holds NaN or infinity at element ", k));
            }
        }
        m->entry_ptrs_.push_back(view);
    }
    m->bind_entries();
    return m;
}

std::shared_ptr<const Model> Model::from_flat(const ModelConfig& config, const ParamLayout& layout,
                                              Tensor flat) {
    FWSVD_CHECK(flat.numel() >= layout.total_floats(), "from_flat: buffer too small");
    std::shared_ptr<Model> m(new Model());
    m->config_ = config;
    m->layout_ = layout;
    m->owned_ = std::move(flat);
    for (const auto& e : layout.entries())
        m->entry_ptrs_.push_back(m->owned_.data<float>() + e.offset);
    m->bind_entries();
    return m;
}

void Model::bind_entries() {
    params_ = layout_.bind([&](size_t i) { return const_cast<float*>(entry_ptrs_[i]); });
}

const float* Model::find_data(const std::string& name) const {
    const ParamEntry* e = layout_.find(name);
    return e ? entry_ptrs_[size_t(e - layout_.entries().data())] : nullptr;
}

Tensor Model::copy_flat() const {
    Tensor flat = Tensor::zeros({layout_.total_floats()});
    const auto& entries = layout_.entries();
    for (size_t i = 0; i < entries.size(); ++i) {
        std::memcpy(flat.data<float>() + entries[i].offset, entry_ptrs_[i],
                    size_t(entries[i].numel) * sizeof(float));
    }
    return flat;
}

void Model::release_weight_pages(const LinearParams& p) const {
    if (!file_) return;
    auto release = [&](const float* w, int64_t n) {
        if (w) file_->release_pages(w, size_t(n) * sizeof(float));
    };
    release(p.weight, p.out * p.in);
    release(p.a, p.rank * p.in);
    release(p.b, p.out * p.rank);
}

std::string Model::checksum() const {
    if (!file_) return "";
    return sha256_file(file_->path());
}

int64_t Model::num_params() const {
    int64_t n = 0;
    for (const auto& e : layout_.entries()) n += e.numel;
    return n;
}

void save_checkpoint(const fs::path& out_dir, const ModelConfig& config, const ParamLayout& layout,
                     const float* flat, const fs::path& tokenizer_dir,
                     const std::map<std::string, std::string>& metadata,
                     const std::map<std::string, std::string>& extra_files) {
    AtomicDir dir(out_dir);
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    for (const auto& e : layout.entries()) w.add_f32(e.name, e.shape, flat + e.offset);
    w.write(dir.path() / "model.safetensors");
    write_file_atomic(dir.path() / "config.json", config.to_json().dump(2) + "\n");
    for (const auto& [name, content] : extra_files) write_file_atomic(dir.path() / name, content);
    if (!tokenizer_dir.empty()) {
        for (const auto& name : tokenizer_file_names()) {
            std::error_code ec;
            if (fs::exists(tokenizer_dir / name, ec)) {
                fs::copy_file(tokenizer_dir / name, dir.path() / name, ec);
                if (ec) {
                    throw Error(
                        str_cat((tokenizer_dir / name).string(), ": cannot copy: ", ec.message()),
                        ErrorKind::io);
                }
            }
        }
    }
    dir.commit();
}

}  // namespace fwsvd
