// fwsvd inspect: what a checkpoint holds: per linear layer its shape, dense or factored, rank,
// parameters and bytes; totals for the encoder's linear layers and the whole file; the low_rank
// block of a compressed model. Reads files only; needs no compressor code.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "models/model.h"
#include "runtime/error.h"
#include "runtime/safetensors.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace fwsvd::cli {
namespace {

struct InspectArgs {
    std::string model_dir;
    bool json = false;
};

struct LinearInfo {
    std::string prefix;
    bool encoder = false;  // an encoder layer's (what compression factors)
    int64_t uses = 1;      // layers sharing it
    int64_t in = 0, out = 0, rank = 0;
    int64_t weights = 0;  // weight (dense) or weight_a + weight_b (factored) values
    int64_t params = 0;   // weights + bias
    int64_t bytes = 0;    // as stored in model.safetensors
    std::string dtype;
};

void inspect_command(const InspectArgs& a) {
    ModelLoadOptions lo;
    lo.require_classifier = false;
    auto model = Model::load(a.model_dir, lo);
    const ModelConfig& c = model->config();
    const ParamLayout& layout = model->layout();
    auto file = SafetensorsFile::open(std::filesystem::path(a.model_dir) / "model.safetensors");

    // A layout name as the file spells it (bare base-model checkpoints lack the base prefix).
    const std::string& base = c.model_family().base_prefix;
    auto file_tensor = [&](const std::string& name) -> const TensorInfo* {
        if (const TensorInfo* t = file->find(name)) return t;
        if (name.rfind(base, 0) == 0) return file->find(name.substr(base.size()));
        return nullptr;
    };

    // Every linear layer of the layout, in its order: the encoder's first (one per layer group),
    // then the embedding projection and the head.
    std::vector<LinearInfo> layers;
    for (const auto& e : layout.entries()) {
        if (e.linear.empty()) continue;
        if (layers.empty() || layers.back().prefix != e.linear) {
            LinearInfo li;
            li.prefix = e.linear;
            li.encoder = is_layer_role(e.role);
            li.uses = e.uses;
            std::tie(li.in, li.out) = linear_shape(c, e.linear);
            li.rank = layout.rank(e.linear);
            layers.push_back(li);
        }
        LinearInfo& li = layers.back();
        li.params += e.numel;
        if (e.kind != ParamKind::bias) li.weights += e.numel;
        const TensorInfo* t = file_tensor(e.name);
        li.bytes += t ? int64_t(t->end - t->begin) : e.numel * int64_t(sizeof(float));
        if (t && e.kind != ParamKind::bias) li.dtype = dtype_name(t->dtype);
    }
    std::stable_partition(layers.begin(), layers.end(),
                          [](const LinearInfo& li) { return li.encoder; });
    const size_t num_encoder = size_t(std::count_if(
        layers.begin(), layers.end(), [](const LinearInfo& li) { return li.encoder; }));

    int64_t enc_params = 0, enc_weights = 0, enc_dense_weights = 0, enc_bytes = 0;
    int64_t enc_factored = 0;
    for (size_t i = 0; i < num_encoder; ++i) {
        const LinearInfo& li = layers[i];
        enc_params += li.params;
        enc_weights += li.weights;
        enc_dense_weights += linear_weight_count(li.in, li.out, 0);
        enc_bytes += li.bytes;
        enc_factored += li.rank > 0;
    }
    int64_t file_params = 0, file_bytes = 0;
    for (const auto& t : file->tensors()) {
        file_params += t.numel;
        file_bytes += int64_t(t.end - t.begin);
    }
    const int64_t used_params = model->num_params();

    if (a.json) {
        nlohmann::ordered_json j;
        j["model"] = a.model_dir;
        j["config"] = {
            {"num_hidden_layers", c.num_hidden_layers},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_attention_heads", c.num_attention_heads},
            {"vocab_size", c.vocab_size},
            {"num_labels", model->has_classifier() ? nlohmann::ordered_json(c.num_labels())
                                                   : nlohmann::ordered_json(nullptr)}};
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        for (const auto& li : layers) {
            nlohmann::ordered_json x;
            x["prefix"] = li.prefix;
            x["in"] = li.in;
            x["out"] = li.out;
            if (li.uses > 1) x["shared_by_layers"] = li.uses;
            x["factored"] = li.rank > 0;
            x["rank"] = li.rank > 0 ? nlohmann::ordered_json(li.rank) : nullptr;
            x["params"] = li.params;
            x["weights"] = li.weights;
            x["bytes"] = li.bytes;
            x["dtype"] = li.dtype;
            arr.push_back(std::move(x));
        }
        j["layers"] = std::move(arr);
        j["encoder_linear"] = {
            {"layers", int64_t(num_encoder)},
            {"factored", enc_factored},
            {"params", enc_params},
            {"weights", enc_weights},
            {"dense_weights", enc_dense_weights},
            {"weight_fraction",
             enc_dense_weights > 0 ? double(enc_weights) / double(enc_dense_weights) : 1.0},
            {"bytes", enc_bytes}};
        j["total"] = {{"params", file_params},
                      {"bytes", file_bytes},
                      {"tensors", int64_t(file->tensors().size())},
                      {"file_bytes", int64_t(file->file_size())},
                      {"used_params", used_params},
                      {"unused_params", file_params - used_params}};
        const int64_t emb_rank = layout.rank(word_embeddings_prefix(c));
        if (emb_rank > 0) {
            j["word_embeddings"] = {{"rank", emb_rank},
                                    {"params", emb_rank * (c.vocab_size + c.embedding_dim())},
                                    {"dense_params", c.vocab_size * c.embedding_dim()}};
        }
        j["low_rank"] = c.raw.contains("low_rank") ? c.raw["low_rank"] : nlohmann::json(nullptr);
        std::cout << j.dump() << std::endl;
        return;
    }

    std::printf("%s: %s %lld layers, hidden %lld, intermediate %lld, ", a.model_dir.c_str(),
                c.model_family().name.c_str(), (long long)c.num_hidden_layers,
                (long long)c.hidden_size, (long long)c.intermediate_size);
    if (model->has_classifier()) {
        std::printf("%lld labels\n", (long long)c.num_labels());
    } else {
        std::printf("no classifier head\n");
    }
    std::printf("%-45s %-11s %-9s %10s %12s %5s\n", "layer", "[out, in]", "kind", "params", "bytes",
                "dtype");
    for (const auto& li : layers) {
        char shape[32], kind[32];
        std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)li.out, (long long)li.in);
        if (li.rank > 0) {
            std::snprintf(kind, sizeof kind, "rank %lld", (long long)li.rank);
        } else {
            std::snprintf(kind, sizeof kind, "dense");
        }
        std::printf("%-45s %-11s %-9s %10lld %12lld %5s", li.prefix.c_str(), shape, kind,
                    (long long)li.params, (long long)li.bytes, li.dtype.c_str());
        if (li.uses > 1) std::printf("  shared by %lld layers", (long long)li.uses);
        std::printf("\n");
    }
    std::printf(
        "encoder linear layers: %lld of %zu factored; %lld parameters (%lld weights, "
        "%.2f%% of the dense %lld), %lld bytes\n",
        (long long)enc_factored, num_encoder, (long long)enc_params, (long long)enc_weights,
        enc_dense_weights > 0 ? 100.0 * double(enc_weights) / double(enc_dense_weights) : 100.0,
        (long long)enc_dense_weights, (long long)enc_bytes);
    std::printf(
        "whole model: %lld parameters in %zu tensors, %lld bytes of data (file %zu "
        "bytes)",
        (long long)file_params, file->tensors().size(), (long long)file_bytes, file->file_size());
    if (const int64_t er = layout.rank(word_embeddings_prefix(c)); er > 0) {
        std::printf("; word embeddings factored at rank %lld (%lld of %lld parameters)",
                    (long long)er, (long long)(er * (c.vocab_size + c.embedding_dim())),
                    (long long)(c.vocab_size * c.embedding_dim()));
    }
    if (file_params != used_params) {
        std::printf("; %lld parameters unused by fwsvd (e.g. cls.* heads)",
                    (long long)(file_params - used_params));
    }
    std::printf("\n");
    if (c.raw.contains("low_rank") && c.raw["low_rank"].is_object()) {
        const auto& b = c.raw["low_rank"];
        std::printf("low_rank: format %s, method %s, %s, source %s", b.value("format", "?").c_str(),
                    b.value("method", "?").c_str(), b.value("rank_rule", "?").c_str(),
                    b.value("source_model", "?").c_str());
        if (b.contains("fisher") && b["fisher"].is_object()) {
            const auto& f = b["fisher"];
            std::string from =
                f.contains("file") ? "file " + f.value("file", "") : "data " + f.value("data", "");
            std::printf(", Fisher from %s (%lld examples)", from.c_str(),
                        (long long)f.value("examples", int64_t(0)));
        }
        std::printf("\n");
    }
    std::cout.flush();
    if (!std::cout.good()) throw Error("cannot write to standard output", ErrorKind::io);
}

}  // namespace

void setup_inspect(CLI::App* app) {
    auto a = std::make_shared<InspectArgs>();
    CLI::App* sub = app->add_subcommand(
        "inspect", "Show a checkpoint's linear layers (dense or factored), parameters and bytes");
    sub->add_option("MODEL_DIR", a->model_dir, "Model folder")->required();
    sub->add_flag("--json", a->json, "Print one JSON object instead of text");
    sub->callback([a] {
        int code = guarded([&] { inspect_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
