#include "compressor/fisher.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/splitmix.h"
#include "models/bert_backward.h"
#include "runtime/error.h"
#include "runtime/safetensors.h"

namespace fwsvd {
namespace {

constexpr const char* kFormat = "fwsvd-fisher-1";

// The first k of a seeded Fisher-Yates shuffle of 0..n-1 (the same on every platform).
std::vector<size_t> sample_indices(size_t n, size_t k, uint64_t seed) {
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), size_t(0));
    uint64_t state = seed;
    for (size_t i = 0; i < k && i + 1 < n; ++i) {
        size_t j = i + size_t(kernels::splitmix64_next(state) % uint64_t(n - i));
        std::swap(idx[i], idx[j]);
    }
    idx.resize(k);
    return idx;
}

bool is_fisher_target(const ParamEntry& e, bool all) {
    if (all) return true;
    // The encoder's linear weights (dense, or both factors of a factored layer).
    return (e.kind == ParamKind::linear_weight || e.kind == ParamKind::linear_factor) &&
           e.linear.rfind("bert.encoder.", 0) == 0;
}

}  // namespace

std::vector<size_t> fisher_sample(size_t n, int64_t examples, uint64_t seed) {
    if (examples <= 0) {
        std::vector<size_t> all(n);
        std::iota(all.begin(), all.end(), size_t(0));
        return all;
    }
    return sample_indices(n, std::min(n, size_t(examples)), seed);
}

FisherResult compute_fisher(const BertModel& model, const EncodedData& data,
                            const FisherOptions& options, Progress* progress) {
    const auto t0 = std::chrono::steady_clock::now();
    FWSVD_CHECK(data.has_labels, data.source,
                ": the empirical Fisher needs labels (it uses the dataset's true labels)");
    FWSVD_CHECK(!data.encodings.empty(), data.source, ": no examples");
    FWSVD_CHECK(model.has_classifier(), "the model has no classifier head: Fisher needs a loss");
    FWSVD_CHECK(options.batch_size >= 1, "Fisher batch size must be at least 1");
    const ParamLayout& layout = model.layout();
    const std::vector<size_t> order =
        fisher_sample(data.encodings.size(), options.examples, options.seed);
    const size_t n = order.size();

    Tensor acc = Tensor::zeros({layout.total_floats()});
    const auto& entries = layout.entries();
    BertParams grads = layout.bind([&](size_t i) -> float* {
        return is_fisher_target(entries[i], options.all_params)
                   ? acc.data<float>() + entries[i].offset
                   : nullptr;
    });

    Activations acts;
    BackwardWorkspace ws;
    Batch batch;
    Targets targets;
    std::vector<float> ones;
    const bool regression = model.config().is_regression();
    for (size_t begin = 0; begin < n; begin += size_t(options.batch_size)) {
        const size_t end = std::min(n, begin + size_t(options.batch_size));
        fill_batch(batch, data, order, begin, end);
        batch.validate(model.config(), data.source.c_str());
        targets.classes.clear();
        targets.values.clear();
        for (size_t i = begin; i < end; ++i) {
            if (regression) {
                targets.values.push_back(data.targets.values[order[i]]);
            } else {
                targets.classes.push_back(data.targets.classes[order[i]]);
            }
        }
        bert_forward(model.params(), layout, batch, acts, ForwardOptions{});
        bert_loss(layout, acts, targets);
        // Each example's own loss: dloss = 1 per example.
        ones.assign(end - begin, 1.0f);
        bert_backward(grads, model.params(), layout, batch, acts, targets, ones.data(),
                      GradMode::per_example_squares, ws);
        if (progress) progress->add(int64_t(end - begin));
    }

    FisherResult r;
    r.examples = int64_t(n);
    r.seed = options.seed;
    r.model_checksum = model.checksum();
    const float inv_n = 1.0f / float(n);
    for (const auto& e : entries) {
        if (!is_fisher_target(e, options.all_params)) continue;
        Tensor t = Tensor::zeros(e.shape);
        const float* src = acc.data<float>() + e.offset;
        for (int64_t i = 0; i < e.numel; ++i) t.data<float>()[i] = src[i] * inv_n;
        r.tensors[e.name] = std::move(t);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

void save_fisher(const std::filesystem::path& path, const FisherResult& f,
                 const std::map<std::string, std::string>& extra) {
    SafetensorsWriter w;
    for (const auto& [k, v] : extra) w.set_metadata(k, v);
    w.set_metadata("format", kFormat);
    w.set_metadata("examples", std::to_string(f.examples));
    w.set_metadata("seed", std::to_string(f.seed));
    w.set_metadata("model_checksum", f.model_checksum);
    for (const auto& [name, t] : f.tensors) w.add(name, t);
    w.write(path);
}

FisherResult load_fisher(const std::filesystem::path& path) {
    auto file = SafetensorsFile::open(path);
    const auto& meta = file->metadata();
    auto get = [&](const char* key) -> std::string {
        auto it = meta.find(key);
        if (it == meta.end()) {
            throw Error(str_cat(path.string(), ": not a Fisher file written by fwsvd fisher (no '",
                                key, "' in its metadata)"));
        }
        return it->second;
    };
    FWSVD_CHECK(get("format") == kFormat, path.string(), ": Fisher format '", get("format"),
                "' is not ", kFormat);
    FisherResult r;
    try {
        r.examples = std::stoll(get("examples"));
        r.seed = std::stoull(get("seed"));
    } catch (const std::logic_error&) {
        throw Error(str_cat(path.string(), ": malformed examples/seed in the metadata"));
    }
    r.model_checksum = get("model_checksum");
    for (const auto& t : file->tensors()) {
        Tensor v = file->read_f32(t.name);
        for (int64_t i = 0; i < v.numel(); ++i) {
            const float x = v.data<float>()[i];
            FWSVD_CHECK(std::isfinite(x) && x >= 0, path.string(), ": tensor '", t.name,
                        "' holds a negative or non-finite Fisher value at element ", i);
        }
        r.tensors[t.name] = std::move(v);
    }
    FWSVD_CHECK(!r.tensors.empty(), path.string(), ": holds no Fisher tensors");
    return r;
}

}  // namespace fwsvd
