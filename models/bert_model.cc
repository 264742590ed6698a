#include "models/bert_model.h"

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

const std::set<std::string>& accepted_architectures() {
    static const std::set<std::string> a = {"BertForSequenceClassification", "BertModel",
                                            "BertForMaskedLM", "BertForPreTraining"};
    return a;
}

// Tensors a supported checkpoint may carry that fwsvd does not use.
bool ignorable(const std::string& name) {
    return name.rfind("cls.", 0) == 0 || name == "bert.embeddings.position_ids" ||
           name == "embeddings.position_ids";
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
    static const std::vector<std::string> names = {"vocab.txt", "tokenizer.json",
                                                   "tokenizer_config.json",
                                                   "special_tokens_map.json", "spiece.model"};
    return names;
}

std::map<std::string, int64_t> low_rank_ranks(const BertConfig& config, const std::string& source) {
    std::map<std::string, int64_t> ranks;
    const nlohmann::json& block = config.low_rank;
    if (block.is_null()) return ranks;
    FWSVD_CHECK(block.is_object(), source, ": low_rank is ", json_brief(block), ", not an object");
    auto it = block.find("ranks");
    if (it == block.end() || it->is_null()) return ranks;
    FWSVD_CHECK(it->is_object(), source, ": low_rank.ranks is ", json_brief(*it),
                ", not an object of layer -> rank");
    const std::vector<std::string> prefixes = encoder_linear_prefixes(config);
    const std::set<std::string> known(prefixes.begin(), prefixes.end());
    for (const auto& [prefix, r] : it->items()) {
        FWSVD_CHECK(known.count(prefix), source, ": low_rank.ranks names '", prefix,
                    "', not an encoder linear layer of this config");
        FWSVD_CHECK(r.is_number_integer(), source, ": low_rank.ranks['", prefix, "'] is ",
                    json_brief(r), ", not an integer");
        const auto [in, out] = linear_shape(config, prefix);
        const int64_t rank = r.get<int64_t>();
        FWSVD_CHECK(rank >= 1 && rank <= std::min(in, out), source, ": low_rank.ranks['", prefix,
                    "'] = ", rank, " is out of range [1, ", std::min(in, out), "]");
        ranks[prefix] = rank;
    }
    return ranks;
}

std::shared_ptr<const BertModel> BertModel::load(const fs::path& dir,
                                                 const ModelLoadOptions& options) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw Error(str_cat(dir.string(),
                            ": not a model folder (expected config.json and "
                            "model.safetensors inside)"));
    }
    std::shared_ptr<BertModel> m(new BertModel());
    m->dir_ = dir;
    m->config_ = BertConfig::load(dir / "config.json");
    const std::string cfg_name = (dir / "config.json").string();
    for (const auto& arch : m->config_.architectures) {
        if (!accepted_architectures().count(arch)) {
            throw Error(str_cat(cfg_name, ": architecture '", arch,
                                "' is not supported (fwsvd runs BertForSequenceClassification, "
                                "BertModel, BertForMaskedLM and BertForPreTraining checkpoints)"));
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

    // BertModel checkpoints carry no "bert." prefix.
    bool prefixed = f.find("bert.embeddings.word_embeddings.weight") != nullptr;
    if (!prefixed && !f.find("embeddings.word_embeddings.weight")) {
        std::string seen;
        for (size_t i = 0; i < f.tensors().size() && i < 5; ++i) {
            seen += (i ? ", " : "") + f.tensors()[i].name;
        }
        throw Error(str_cat(weights.string(),
                            ": not a BERT checkpoint (no "
                            "bert.embeddings.word_embeddings.weight); found: ",
                            seen.empty() ? "no tensors" : seen));
    }
    auto file_name = [&](const std::string& name) {
        if (prefixed) return name;
        return name.rfind("bert.", 0) == 0 ? name.substr(5) : name;
    };
    auto lookup = [&](const std::string& name) -> const TensorInfo* {
        if (const TensorInfo* t = f.find(file_name(name))) return t;
        // Old checkpoints name LayerNorm parameters gamma/beta.
        auto swap = [&](const std::string& from, const std::string& to) -> const TensorInfo* {
            if (name.size() > from.size() &&
                name.compare(name.size() - from.size(), from.size(), from) == 0 &&
                name.find("LayerNorm") != std::string::npos) {
                return f.find(file_name(name.substr(0, name.size() - from.size()) + to));
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
    lo.pooler = lookup("bert.pooler.dense.weight") || lookup("bert.pooler.dense.weight_a");
    lo.classifier = lookup("classifier.weight") || lookup("classifier.bias");
    if (options.require_classifier && !lo.classifier) {
        throw Error(str_cat(weights.string(),
                            ": no classifier head (classifier.weight): this is a BertModel or "
                            "masked-LM checkpoint; train a head with `fwsvd finetune --num-labels "
                            "N` first"));
    }
    if (lo.classifier) {
        const TensorInfo* cw = lookup("classifier.weight");
        FWSVD_CHECK(cw && cw->shape.size() == 2, weights.string(),
                    ": classifier.weight missing or not a matrix");
        FWSVD_CHECK(cw->shape[0] == m->config_.num_labels(), weights.string(),
                    ": classifier.weight has ", cw->shape[0], " rows but ", cfg_name, " has ",
                    m->config_.num_labels(), " labels (id2label)");
        FWSVD_CHECK(lo.pooler, weights.string(), ": classifier without bert.pooler.dense");
    }
    m->layout_ = ParamLayout(m->config_, lo);

    // Bind every entry: a view into the mapping when F32 and aligned, else a converted copy.
    int64_t convert_floats = 0;
    std::vector<const TensorInfo*> infos;
    std::set<std::string> used;
    for (const auto& e : m->layout_.entries()) {
        const TensorInfo* t = lookup(e.name);
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
        if (!used.count(t.name) && !ignorable(t.name)) unknown.push_back(t.name);
    }
    if (!unknown.empty()) {
        std::string list;
        for (size_t i = 0; i < unknown.size() && i < 5; ++i) list += (i ? ", " : "") + unknown[i];
        throw Error(str_cat(weights.string(), ": ", unknown.size(),
                            " tensor(s) fwsvd does not know (", list,
                            "): not a supported BERT checkpoint"));
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

std::shared_ptr<const BertModel> BertModel::from_flat(const BertConfig& config,
                                                      const ParamLayout& layout, Tensor flat) {
    FWSVD_CHECK(flat.numel() >= layout.total_floats(), "from_flat: buffer too small");
    std::shared_ptr<BertModel> m(new BertModel());
    m->config_ = config;
    m->layout_ = layout;
    m->owned_ = std::move(flat);
    for (const auto& e : layout.entries())
        m->entry_ptrs_.push_back(m->owned_.data<float>() + e.offset);
    m->bind_entries();
    return m;
}

void BertModel::bind_entries() {
    params_ = layout_.bind([&](size_t i) { return const_cast<float*>(entry_ptrs_[i]); });
}

const float* BertModel::find_data(const std::string& name) const {
    const ParamEntry* e = layout_.find(name);
    return e ? entry_ptrs_[size_t(e - layout_.entries().data())] : nullptr;
}

Tensor BertModel::copy_flat() const {
    Tensor flat = Tensor::zeros({layout_.total_floats()});
    const auto& entries = layout_.entries();
    for (size_t i = 0; i < entries.size(); ++i) {
        std::memcpy(flat.data<float>() + entries[i].offset, entry_ptrs_[i],
                    size_t(entries[i].numel) * sizeof(float));
    }
    return flat;
}

void BertModel::release_weight_pages(const LinearParams& p) const {
    if (!file_) return;
    auto release = [&](const float* w, int64_t n) {
        if (w) file_->release_pages(w, size_t(n) * sizeof(float));
    };
    release(p.weight, p.out * p.in);
    release(p.a, p.rank * p.in);
    release(p.b, p.out * p.rank);
}

std::string BertModel::checksum() const {
    if (!file_) return "";
    return sha256_file(file_->path());
}

int64_t BertModel::num_params() const {
    int64_t n = 0;
    for (const auto& e : layout_.entries()) n += e.numel;
    return n;
}

void save_checkpoint(const fs::path& out_dir, const BertConfig& config, const ParamLayout& layout,
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
