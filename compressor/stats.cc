#include "compressor/stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "compressor/stats_sources.h"
#include "kernels/splitmix.h"
#include "models/encoder_layer.h"
#include "models/forward.h"
#include "runtime/error.h"
#include "runtime/safetensors.h"

namespace fwsvd {
namespace {

constexpr const char* kFisherFormat = "fwsvd-fisher-1";
constexpr const char* kStatsFormat = "fwsvd-stats-1";
constexpr const char* kAbsMeanPrefix = "input_abs_mean.";
constexpr const char* kCovPrefix = "input_cov.";

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

const LinearSpec& encoder_linear(const ModelConfig& config, const std::string& prefix,
                                 std::vector<LinearSpec>& specs) {
    specs = encoder_linears(config);
    for (const auto& s : specs) {
        if (s.prefix == prefix) return s;
    }
    throw Error(str_cat("'", prefix, "' is not an encoder linear layer of this model"));
}

}  // namespace

std::string stat_kinds_str(unsigned kinds) {
    std::string s;
    auto add = [&](unsigned k, const char* name) {
        if (kinds & k) s += (s.empty() ? "" : ", ") + std::string(name);
    };
    add(kStatFisher, "Fisher");
    add(kStatInputAbsMean, "input mean |x|");
    add(kStatInputCov, "input covariance E[x x^T]");
    return s.empty() ? "none" : s;
}

unsigned Stats::kinds() const {
    return (fisher.empty() ? 0u : unsigned(kStatFisher)) |
           (input_abs_mean.empty() ? 0u : unsigned(kStatInputAbsMean)) |
           (input_cov.empty() ? 0u : unsigned(kStatInputCov));
}

std::string input_name(const ModelConfig& config, const std::string& prefix) {
    std::vector<LinearSpec> specs;
    const LinearSpec& s = encoder_linear(config, prefix, specs);
    return str_cat("encoder.", s.group, ".", layer_input_name(layer_input_of(s.role)));
}

LayerStats Stats::layer(const ModelConfig& config, const std::string& prefix,
                        unsigned needed) const {
    std::vector<LinearSpec> specs;
    const LinearSpec& spec = encoder_linear(config, prefix, specs);
    LayerStats ls;
    ls.in = spec.in;
    ls.out = spec.out;
    const std::string name = prefix + ".weight";
    if (auto it = fisher.find(name); it != fisher.end()) {
        const Tensor& t = it->second;
        FWSVD_CHECK(t.dtype() == DType::f32 && t.shape() == Shape({spec.out, spec.in}),
                    "the Fisher tensor '", name, "' has shape ", shape_str(t.shape()), " (",
                    dtype_name(t.dtype()), "), expected ", shape_str({spec.out, spec.in}),
                    " (F32)");
        ls.fisher = t.data<float>();
    }
    FWSVD_CHECK(ls.fisher || !(needed & kStatFisher), "the Fisher information has no tensor '",
                name, "'");
    const std::string in = input_name(config, prefix);
    auto find = [&](const std::map<std::string, Tensor>& m, const Shape& shape, const char* what,
                    unsigned kind) -> const double* {
        auto it = m.find(in);
        if (it == m.end()) {
            FWSVD_CHECK(!(needed & kind), "the statistics have no ", what, " of '", in,
                        "' (the input of ", prefix, ")");
            return nullptr;
        }
        FWSVD_CHECK(it->second.dtype() == DType::f64 && it->second.shape() == shape, "the ", what,
                    " of '", in, "' has shape ", shape_str(it->second.shape()), ", expected ",
                    shape_str(shape), " (F64)");
        return it->second.data<double>();
    };
    ls.input_abs_mean = find(input_abs_mean, {spec.in}, "input mean |x|", kStatInputAbsMean);
    ls.input_cov = find(input_cov, {spec.in, spec.in}, "input covariance", kStatInputCov);
    return ls;
}

std::vector<size_t> stats_sample(size_t n, int64_t examples, uint64_t seed) {
    if (examples <= 0) {
        std::vector<size_t> all(n);
        std::iota(all.begin(), all.end(), size_t(0));
        return all;
    }
    return sample_indices(n, std::min(n, size_t(examples)), seed);
}

int64_t stats_batch_size(const Model& model, const StatsOptions& options) {
    // Shared parameters: the Fisher source takes one example at a time (stats_sources.cc).
    const bool fisher = (options.kinds & kStatFisher) != 0;
    return fisher && model.layout().has_shared() ? 1 : options.batch_size;
}

Stats compute_stats(const Model& model, const EncodedData& data, const StatsOptions& options,
                    Progress* progress, Comm* comm) {
    const auto t0 = std::chrono::steady_clock::now();
    const bool fisher = (options.kinds & kStatFisher) != 0;
    const bool distributed = comm && comm->distributed();
    FWSVD_CHECK(options.kinds != 0, "no statistics asked for");
    // A rank of a distributed pass may hold no examples (no labels either).
    FWSVD_CHECK(!fisher || data.has_labels || (distributed && data.encodings.empty()), data.source,
                ": the empirical Fisher needs labels (it uses the dataset's true labels)");
    FWSVD_CHECK(distributed || !data.encodings.empty(), data.source, ": no examples");
    FWSVD_CHECK(!fisher || model.has_classifier(),
                "the model has no classifier head: Fisher needs a loss");
    FWSVD_CHECK(options.batch_size >= 1, "statistics batch size must be at least 1");
    if (distributed) {
        FWSVD_CHECK(options.examples <= 0, "internal: a distributed pass takes its sample whole");
        if (!options.fisher_f64 && fisher) {
            throw Error("internal: a distributed Fisher needs float64 sums", ErrorKind::internal);
        }
    }
    const ParamLayout& layout = model.layout();
    const std::vector<size_t> order =
        stats_sample(data.encodings.size(), options.examples, options.seed);
    const size_t n = order.size();
    const size_t batch_size = size_t(stats_batch_size(model, options));

    std::vector<std::unique_ptr<StatsSource>> sources = make_stats_sources(model, options);
    Activations acts;
    Batch batch;
    Targets targets;
    ForwardOptions fo;
    fo.head = fisher;
    for (size_t begin = 0; begin < n; begin += batch_size) {
        const size_t end = std::min(n, begin + batch_size);
        fill_batch(batch, data, order, begin, end);
        batch.validate(model.config(), data.source.c_str());
        if (data.has_labels) fill_targets(targets, data, order, begin, end);
        model_forward(model.params(), layout, batch, acts, fo);
        if (fisher) model_loss(layout, acts, targets);
        const StatsBatch sb{model, batch, targets, acts};
        for (auto& s : sources) s->add(sb);
        if (progress) progress->add(int64_t(end - begin));
    }

    int64_t total = int64_t(n);
    if (distributed) {
        total = 0;
        for (int64_t k : comm->allgather(int64_t(n))) total += k;
        FWSVD_CHECK(total > 0, data.source, ": no examples on any rank");
        for (auto& s : sources) s->reduce(*comm);
    }
    Stats r;
    r.examples = total;
    r.seed = options.seed;
    r.model_checksum = model.checksum();
    for (auto& s : sources) s->finish(r, total);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

void save_stats(const std::filesystem::path& path, const Stats& s,
                const std::map<std::string, std::string>& extra) {
    SafetensorsWriter w;
    for (const auto& [k, v] : extra) w.set_metadata(k, v);
    const bool fisher_only = s.input_abs_mean.empty() && s.input_cov.empty();
    w.set_metadata("format", fisher_only ? kFisherFormat : kStatsFormat);
    w.set_metadata("examples", std::to_string(s.examples));
    w.set_metadata("seed", std::to_string(s.seed));
    w.set_metadata("model_checksum", s.model_checksum);
    if (!fisher_only) w.set_metadata("input_rows", std::to_string(s.input_rows));
    for (const auto& [name, t] : s.fisher) w.add(name, t);
    for (const auto& [name, t] : s.input_abs_mean) w.add(kAbsMeanPrefix + name, t);
    for (const auto& [name, t] : s.input_cov) w.add(kCovPrefix + name, t);
    w.write(path);
}

Stats load_stats(const std::filesystem::path& path) {
    auto file = SafetensorsFile::open(path);
    const auto& meta = file->metadata();
    auto get = [&](const char* key) -> std::string {
        auto it = meta.find(key);
        if (it == meta.end()) {
            throw Error(str_cat(path.string(),
                                ": not a statistics file written by fwsvd stats or fwsvd fisher "
                                "(no '",
                                key, "' in its metadata)"));
        }
        return it->second;
    };
    const std::string format = get("format");
    FWSVD_CHECK(format == kFisherFormat || format == kStatsFormat, path.string(), ": format '",
                format, "' is not ", kFisherFormat, " or ", kStatsFormat);
    Stats r;
    try {
        r.examples = std::stoll(get("examples"));
        r.seed = std::stoull(get("seed"));
        if (format == kStatsFormat) r.input_rows = std::stoll(get("input_rows"));
    } catch (const std::logic_error&) {
        throw Error(str_cat(path.string(), ": malformed examples/seed/input_rows in the metadata"));
    }
    r.model_checksum = get("model_checksum");
    auto starts = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
    for (const auto& t : file->tensors()) {
        if (starts(t.name, kAbsMeanPrefix) || starts(t.name, kCovPrefix)) {
            const bool cov = starts(t.name, kCovPrefix);
            Tensor v = file->read(t.name);
            FWSVD_CHECK(v.dtype() == DType::f64, path.string(), ": tensor '", t.name, "' is ",
                        dtype_name(v.dtype()), ", expected F64");
            for (int64_t i = 0; i < v.numel(); ++i) {
                const double x = v.data<double>()[i];
                FWSVD_CHECK(std::isfinite(x) && (cov || x >= 0), path.string(), ": tensor '",
                            t.name, "' holds a non-finite or negative value at element ", i);
            }
            const std::string name = t.name.substr(cov ? std::string(kCovPrefix).size()
                                                       : std::string(kAbsMeanPrefix).size());
            (cov ? r.input_cov : r.input_abs_mean)[name] = std::move(v);
            continue;
        }
        Tensor v = file->read_f32(t.name);
        for (int64_t i = 0; i < v.numel(); ++i) {
            const float x = v.data<float>()[i];
            FWSVD_CHECK(std::isfinite(x) && x >= 0, path.string(), ": tensor '", t.name,
                        "' holds a negative or non-finite Fisher value at element ", i);
        }
        r.fisher[t.name] = std::move(v);
    }
    FWSVD_CHECK(r.kinds() != 0, path.string(), ": holds no statistics");
    return r;
}

}  // namespace fwsvd
