#include "compressor/compress.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <sstream>
// GCC 12 reports false -Wmaybe-uninitialized inside libstdc++'s <regex> under
// -fsanitize=address (GCC bug 105562); the headers' code is exempted, ours is not.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include "runtime/error.h"

namespace fwsvd {
namespace {

std::string format_ratio(double x) {
    std::ostringstream os;
    os << x;
    return os.str();
}

void validate_spec(const RankSpec& spec) {
    switch (spec.rule) {
        case RankRule::rank:
            if (spec.rank < 1) {
                throw Error(str_cat("--rank must be >= 1 (got ", spec.rank, ")"), ErrorKind::usage);
            }
            break;
        case RankRule::rank_ratio:
        case RankRule::param_ratio:
            if (!(spec.ratio > 0 && spec.ratio <= 1)) {
                throw Error(str_cat(spec.str(), ": the ratio must be in (0, 1]"), ErrorKind::usage);
            }
            break;
    }
}

// Whether factoring at rank r shrinks a layer.
bool shrinks(const LayerPlan& l, int64_t r) {
    return linear_weight_count(l.in, l.out, r) < linear_weight_count(l.in, l.out, 0);
}

// Counted weights of a layer at rank r without forcing: factored only when it shrinks.
int64_t layer_params_at(const LayerPlan& l, int64_t r) {
    return linear_weight_count(l.in, l.out, l.selected && shrinks(l, r) ? r : 0);
}

}  // namespace

std::string RankSpec::str() const {
    switch (rule) {
        case RankRule::rank:
            return str_cat("--rank ", rank);
        case RankRule::rank_ratio:
            return "--rank-ratio " + format_ratio(ratio);
        case RankRule::param_ratio:
            return "--param-ratio " + format_ratio(ratio);
    }
    return "";
}

int64_t RankPlan::num_factored() const {
    return std::count_if(layers.begin(), layers.end(),
                         [](const LayerPlan& l) { return l.factored; });
}

RankPlan plan_ranks(const ModelConfig& config, const RankSpec& spec,
                    const std::string& layers_regex, bool force_factor) {
    validate_spec(spec);
    std::regex re;
    if (!layers_regex.empty()) {
        try {
            re = std::regex(layers_regex, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw Error(
                str_cat("--layers: invalid regular expression '", layers_regex, "': ", e.what()),
                ErrorKind::usage);
        }
    }
    RankPlan plan;
    for (const LinearSpec& spec_l : encoder_linears(config)) {
        LayerPlan l;
        l.prefix = spec_l.prefix;
        l.in = spec_l.in;
        l.out = spec_l.out;
        l.uses = spec_l.uses;
        l.selected = layers_regex.empty() || std::regex_search(l.prefix, re);
        plan.params_before += linear_weight_count(l.in, l.out, 0);
        plan.layers.push_back(std::move(l));
    }
    if (std::none_of(plan.layers.begin(), plan.layers.end(),
                     [](const LayerPlan& l) { return l.selected; })) {
        throw Error(str_cat("--layers '", layers_regex,
                            "' matches no encoder linear layer (they are named like ",
                            plan.layers.front().prefix, ")"),
                    ErrorKind::usage);
    }

    // The rank the rule gives each selected layer.
    if (spec.rule == RankRule::rank) {
        plan.uniform_rank = spec.rank;
        for (auto& l : plan.layers) l.rank = spec.rank;
    } else if (spec.rule == RankRule::rank_ratio) {
        for (auto& l : plan.layers) {
            l.rank = std::max<int64_t>(1, std::llround(spec.ratio * double(std::min(l.in, l.out))));
        }
    } else {
        // total(r) is non-decreasing in r: a factored layer grows with r until it is kept dense
        // at in·out. Binary search for the largest r with total(r) <= ratio · before.
        auto total = [&](int64_t r) {
            int64_t t = 0;
            for (const auto& l : plan.layers) t += layer_params_at(l, r);
            return t;
        };
        const double budget = spec.ratio * double(plan.params_before);
        int64_t r_max = 1;
        for (const auto& l : plan.layers) {
            if (l.selected) r_max = std::max(r_max, std::min(l.in, l.out));
        }
        if (double(total(1)) > budget) {
            throw Error(str_cat(spec.str(), " cannot be reached: even rank 1 keeps ", total(1),
                                " of ", plan.params_before, " encoder linear weights (fraction ",
                                double(total(1)) / double(plan.params_before), ")"),
                        ErrorKind::usage);
        }
        int64_t lo = 1, hi = r_max;  // total(lo) <= budget
        while (lo < hi) {
            int64_t mid = lo + (hi - lo + 1) / 2;
            if (double(total(mid)) <= budget) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        plan.uniform_rank = lo;
        for (auto& l : plan.layers) l.rank = lo;
    }

    for (auto& l : plan.layers) {
        if (!l.selected) {
            l.rank = 0;
            l.dense_reason = "not matched by --layers";
            continue;
        }
        const int64_t full = std::min(l.in, l.out);
        if (force_factor) {
            l.rank = std::min(l.rank, full);
            l.factored = true;
        } else if (shrinks(l, l.rank)) {
            l.factored = true;
        } else {
            l.dense_reason = str_cat("rank ", l.rank,
                                     " does not shrink it: r*(in+out) = ", l.rank * (l.in + l.out),
                                     " >= in*out = ", l.in * l.out);
        }
    }
    plan.params_after = 0;
    for (const auto& l : plan.layers) plan.params_after += l.params();
    return plan;
}

nlohmann::json LowRankBlock::to_json() const {
    nlohmann::json r = nlohmann::json::object();
    for (const auto& [prefix, rank] : ranks) r[prefix] = rank;
    nlohmann::json j = nlohmann::json::object();
    j["format"] = kLowRankFormat;
    j["method"] = method;
    j["rank_rule"] = rank_rule;
    j["layers"] = layers_regex.empty() ? nlohmann::json(nullptr) : nlohmann::json(layers_regex);
    j["ranks"] = r;
    if (!source_model.empty()) j["source_model"] = source_model;
    if (!source_checksum.empty()) j["source_checksum"] = source_checksum;
    if (statistics) j["fisher"] = *statistics;
    return j;
}

void apply_block(CompressResult& result) {
    result.config.raw["low_rank"] = result.block.to_json();
}

CompressResult compress_model(const Model& model, const Stats* stats,
                              const CompressOptions& options, Progress* progress) {
    const auto t_start = std::chrono::steady_clock::now();
    const std::string source = model.dir().empty() ? "the model" : model.dir().string();
    if (!model.layout().options().ranks.empty()) {
        throw Error(str_cat(source, ": already compressed (layer '",
                            model.layout().options().ranks.begin()->first,
                            "' is factored); compress the dense model it came from"));
    }
    const Method& method = method_named(options.method);
    CompressResult res;
    res.plan =
        plan_ranks(model.config(), options.ranks, options.layers_regex, options.force_factor);
    if (res.plan.num_factored() == 0) {
        throw Error(str_cat("nothing to compress: with ", options.ranks.str(),
                            " no selected layer would shrink (a layer [out, in] shrinks only "
                            "when rank*(in+out) < in*out)"));
    }
    const unsigned have = stats ? stats->kinds() : 0u;
    if ((method.needs & have) != method.needs) {
        throw Error(str_cat(method.name, " needs the ", stat_kinds_str(method.needs & ~have),
                            " of the model (--data, or a statistics file from fwsvd stats / "
                            "fwsvd fisher)"),
                    ErrorKind::usage);
    }
    // The statistics of every layer that will be factored.
    std::vector<LayerStats> stats_of(res.plan.layers.size());
    if (stats) {
        for (size_t i = 0; i < res.plan.layers.size(); ++i) {
            const LayerPlan& l = res.plan.layers[i];
            if (l.factored) stats_of[i] = stats->layer(model.config(), l.prefix, method.needs);
        }
    }

    // Factorize, largest layers first so that dynamic scheduling balances the threads.
    res.layers.resize(res.plan.layers.size());
    std::vector<LowRankFactors> factors(res.plan.layers.size());
    std::vector<size_t> jobs;
    for (size_t i = 0; i < res.plan.layers.size(); ++i) {
        res.layers[i].plan = res.plan.layers[i];
        if (res.plan.layers[i].factored) jobs.push_back(i);
    }
    std::stable_sort(jobs.begin(), jobs.end(), [&](size_t x, size_t y) {
        const auto& a = res.plan.layers[x];
        const auto& b = res.plan.layers[y];
        return a.in * a.out > b.in * b.out;
    });
    std::vector<std::exception_ptr> errors(jobs.size());
    const int threads = std::max(1, std::min<int>(omp_get_max_threads(), int(jobs.size())));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t j = 0; j < int64_t(jobs.size()); ++j) {
        const size_t i = jobs[size_t(j)];
        try {
            const auto t0 = std::chrono::steady_clock::now();
            const LayerPlan& l = res.plan.layers[i];
            const float* w = model.find_data(l.prefix + ".weight");
            FWSVD_CHECK(w, source, ": no tensor '", l.prefix, ".weight'");
            const std::vector<double> w64(w, w + l.out * l.in);
            MethodInput in;
            in.weight = w64.data();
            in.out = l.out;
            in.in = l.in;
            in.rank = l.rank;
            in.stats = stats_of[i];
            in.options = &options.method_options;
            MethodOutput out;
            try {
                out = method.factorize(in);
            } catch (const Error& e) {
                throw Error(str_cat(method.name, " on '", l.prefix, "': ", e.what()), e.kind());
            }
            factors[i] = round_factors(std::move(out.factors));
            res.layers[i].notes = std::move(out.notes);
            res.layers[i].error = reconstruction_error(w, factors[i], stats_of[i].fisher);
            res.layers[i].seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } catch (...) {
            errors[size_t(j)] = std::current_exception();
        }
        if (progress) {
#pragma omp critical(fwsvd_compress_progress)
            progress->add(1);
        }
    }
    for (const auto& e : errors) {
        if (e) std::rethrow_exception(e);
    }

    // The word embeddings: W [V, E] ≈ B A (factorize_linear's B [V, r] and A [r, E]), stored as
    // codes B and second factor Aᵀ [E, r].
    const ModelConfig& config = model.config();
    const std::string word = word_embeddings_prefix(config);
    LowRankFactors word_factors;
    if (options.embedding_rank > 0) {
        const int64_t V = config.vocab_size, E = config.embedding_dim(), r = options.embedding_rank;
        if (!(r * (V + E) < V * E)) {
            throw Error(str_cat("--embeddings ", r, " does not shrink the word embeddings [", V,
                                ", ", E, "] (rank*(V+E) must be below V*E)"),
                        ErrorKind::usage);
        }
        const float* w = model.find_data(config.model_family().tensor_name(Role::word_emb));
        FWSVD_CHECK(w, source, ": no dense word embeddings to factor");
        word_factors = factorize_linear(w, V, E, r);
        res.embeddings.rank = r;
        res.embeddings.params_before = V * E;
        res.embeddings.params_after = r * (V + E);
        res.embeddings.rel_error = reconstruction_error(w, word_factors).plain;
    }

    // Assemble: the factored layers' A and B, every other tensor copied from the source.
    LayoutOptions lo = model.layout().options();
    lo.ranks.clear();
    if (options.embedding_rank > 0) lo.ranks[word] = options.embedding_rank;
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < res.plan.layers.size(); ++i) {
        const LayerPlan& l = res.plan.layers[i];
        if (l.factored) {
            lo.ranks[l.prefix] = l.rank;
            index[l.prefix] = i;
        }
    }
    res.layout = ParamLayout(model.config(), lo);
    res.flat = Tensor::zeros({res.layout.total_floats()});
    float* flat = res.flat.data<float>();
    for (const auto& e : res.layout.entries()) {
        float* dst = flat + e.offset;
        if (e.name == word + ".weight_a") {
            std::memcpy(dst, word_factors.b.data(), word_factors.b.size() * sizeof(float));
        } else if (e.name == word + ".weight_b") {
            const int64_t E = e.shape[0], r = e.shape[1];
            for (int64_t j = 0; j < E; ++j) {
                for (int64_t k = 0; k < r; ++k) dst[j * r + k] = word_factors.a[size_t(k * E + j)];
            }
        } else if (e.kind == ParamKind::linear_factor) {
            const LowRankFactors& f = factors.at(index.at(e.linear));
            const bool is_a = e.name == e.linear + ".weight_a";
            const std::vector<float>& src = is_a ? f.a : f.b;
            FWSVD_CHECK(int64_t(src.size()) == e.numel, "internal: factor size of '", e.name, "'");
            std::memcpy(dst, src.data(), src.size() * sizeof(float));
        } else {
            const float* src = model.find_data(e.name);
            FWSVD_CHECK(src, source, ": no tensor '", e.name, "'");
            std::memcpy(dst, src, size_t(e.numel) * sizeof(float));
        }
    }

    res.config = model.config();
    res.block.method = method.name;
    res.block.rank_rule = options.ranks.str();
    res.block.layers_regex = options.layers_regex;
    res.block.ranks = lo.ranks;
    apply_block(res);

    res.model_params_before = model.num_params();
    for (const auto& e : res.layout.entries()) res.model_params_after += e.numel;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return res;
}

nlohmann::ordered_json compress_report_json(const CompressResult& r) {
    nlohmann::ordered_json j;
    j["method"] = r.block.method;
    j["rank_rule"] = r.block.rank_rule;
    j["uniform_rank"] =
        r.plan.uniform_rank > 0 ? nlohmann::ordered_json(r.plan.uniform_rank) : nullptr;
    j["layers_regex"] = r.block.layers_regex.empty() ? nlohmann::ordered_json(nullptr)
                                                     : nlohmann::ordered_json(r.block.layers_regex);
    nlohmann::ordered_json enc;
    enc["params_before"] = r.plan.params_before;
    enc["params_after"] = r.plan.params_after;
    enc["fraction"] = r.plan.fraction();
    enc["counting"] =
        "weights only, biases excluded; dense in*out, factored rank*(in+out); a matrix shared by "
        "several layers once";
    j["encoder_linear"] = enc;
    nlohmann::ordered_json all;
    all["params_before"] = r.model_params_before;
    all["params_after"] = r.model_params_after;
    all["fraction"] = r.model_params_before > 0
                          ? double(r.model_params_after) / double(r.model_params_before)
                          : 1.0;
    j["whole_model"] = all;
    if (r.embeddings.rank > 0) {
        j["word_embeddings"] = {{"rank", r.embeddings.rank},
                                {"params_before", r.embeddings.params_before},
                                {"params_after", r.embeddings.params_after},
                                {"rel_error", r.embeddings.rel_error}};
    }
    j["factored_layers"] = r.plan.num_factored();
    j["dense_layers"] = int64_t(r.plan.layers.size()) - r.plan.num_factored();
    j["seconds"] = r.seconds;
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : r.layers) {
        nlohmann::ordered_json x;
        x["prefix"] = l.plan.prefix;
        x["in"] = l.plan.in;
        x["out"] = l.plan.out;
        if (l.plan.uses > 1) x["shared_by_layers"] = l.plan.uses;
        x["factored"] = l.plan.factored;
        x["rank"] = l.plan.factored ? nlohmann::ordered_json(l.plan.rank) : nullptr;
        if (!l.plan.factored) x["dense_reason"] = l.plan.dense_reason;
        x["params_before"] = l.plan.in * l.plan.out;
        x["params_after"] = l.plan.params();
        if (l.plan.factored) {
            x["rel_error"] = l.error.plain;
            x["fisher_rel_error"] =
                l.error.fisher >= 0 ? nlohmann::ordered_json(l.error.fisher) : nullptr;
            if (!l.notes.empty()) x["notes"] = l.notes;
            x["seconds"] = l.seconds;
        }
        layers.push_back(std::move(x));
    }
    j["layers"] = std::move(layers);
    return j;
}

}  // namespace fwsvd
