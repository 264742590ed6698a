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

#include "compressor/allocate.h"
#include "compressor/holdout.h"
#include "compressor/latency.h"
#include "compressor/whitening.h"
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
        case RankRule::latency_ratio:
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
        case RankRule::latency_ratio:
            return "--latency-ratio " + format_ratio(ratio);
    }
    return "";
}

const char* allocation_name(Allocation a) {
    return a == Allocation::greedy ? "greedy" : "uniform";
}

const char* auto_criterion_name(AutoCriterion c) {
    switch (c) {
        case AutoCriterion::error:
            return "error";
        case AutoCriterion::loss:
            return "loss";
        case AutoCriterion::divergence:
            return "divergence";
    }
    return "";
}

const char* sensitivity_name(Sensitivity s) {
    return s == Sensitivity::kfac ? "kfac" : "fisher";
}

int64_t RankPlan::num_factored() const {
    return std::count_if(layers.begin(), layers.end(),
                         [](const LayerPlan& l) { return l.factored; });
}

RankPlan plan_ranks(const ModelConfig& config, const RankSpec& spec,
                    const std::string& layers_regex, bool force_factor, GemmTimer* timer,
                    int64_t rank_multiple) {
    validate_spec(spec);
    if (spec.rule == RankRule::latency_ratio) {
        FWSVD_CHECK(timer, "internal: --latency-ratio needs a GEMM timer");
        if (rank_multiple < 1) {
            throw Error(str_cat("--rank-multiple must be >= 1 (got ", rank_multiple, ")"),
                        ErrorKind::usage);
        }
    }
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
    std::string why;
    if (spec.rule == RankRule::rank) {
        plan.uniform_rank = spec.rank;
        for (auto& l : plan.layers) l.rank = spec.rank;
        why = spec.str();
    } else if (spec.rule == RankRule::rank_ratio) {
        for (auto& l : plan.layers) {
            l.rank = std::max<int64_t>(1, std::llround(spec.ratio * double(std::min(l.in, l.out))));
        }
        why = str_cat("round(", format_ratio(spec.ratio), " * min(in, out)) (", spec.str(), ")");
    } else if (spec.rule == RankRule::latency_ratio) {
        // The linear-layer time at uniform rank r (0: dense), a shared matrix once per use.
        auto micros = [&](const LayerPlan& l, int64_t r) {
            const int64_t use = l.selected && r > 0 && shrinks(l, r) ? r : 0;
            return double(l.uses) * layer_micros(*timer, l.in, l.out, use);
        };
        for (const auto& l : plan.layers) plan.micros_before += micros(l, 0);
        const double budget = spec.ratio * plan.micros_before;
        int64_t r_max = 0;
        for (const auto& l : plan.layers) {
            if (l.selected) r_max = std::max(r_max, std::min(l.in, l.out));
        }
        // Time is not monotone in r (kernel blocking): every multiple is measured, the largest
        // that fits wins.
        int64_t best = 0;
        double best_total = 0, smallest = -1;
        for (int64_t r = rank_multiple; r <= r_max; r += rank_multiple) {
            double total = 0;
            for (const auto& l : plan.layers) total += micros(l, r);
            if (smallest < 0 || total < smallest) smallest = total;
            if (total <= budget) {
                best = r;
                best_total = total;
            }
        }
        if (best == 0) {
            throw Error(
                str_cat(spec.str(), " cannot be reached with ranks that are multiples of ",
                        rank_multiple, ": the fastest uniform rank takes ", smallest, " us of ",
                        plan.micros_before, " us (fraction ", smallest / plan.micros_before, ")"),
                ErrorKind::usage);
        }
        plan.micros_after = best_total;
        plan.rank_multiple = rank_multiple;
        plan.uniform_rank = best;
        for (auto& l : plan.layers) {
            l.rank = best;
            l.micros_before = micros(l, 0) / double(l.uses);
            l.micros_after = micros(l, best) / double(l.uses);
        }
        why = str_cat("the largest uniform multiple of ", rank_multiple, " within ", spec.str());
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
        why = str_cat("the largest uniform rank within ", spec.str());
    }

    for (auto& l : plan.layers) {
        if (!l.selected) {
            l.rank = 0;
            l.dense_reason = "not matched by --layers";
            continue;
        }
        const int64_t full = std::min(l.in, l.out);
        l.why = why;
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
    if (refit) j["refit"] = true;
    if (!allocation.empty()) j["allocation"] = allocation;
    if (!selected_by.empty()) j["selected_by"] = selected_by;
    if (!method_options.is_null()) j["method_options"] = method_options;
    return j;
}

void apply_block(CompressResult& result) {
    result.config.raw["low_rank"] = result.block.to_json();
}

namespace {

// Runs fn(job) for every job on OpenMP threads (dynamic: callers order the jobs largest first),
// rethrowing the first error; progress (may be null) counts jobs.
template <typename Fn>
void parallel_jobs(int64_t n, Progress* progress, Fn fn) {
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    const int threads = std::max(1, std::min<int>(omp_get_max_threads(), int(n)));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t j = 0; j < n; ++j) {
        try {
            fn(j);
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
}

// The layers in `which`, largest first (dynamic scheduling then balances the threads).
std::vector<size_t> largest_first(const RankPlan& plan, const std::vector<bool>& which) {
    std::vector<size_t> jobs;
    for (size_t i = 0; i < plan.layers.size(); ++i) {
        if (which[i]) jobs.push_back(i);
    }
    std::stable_sort(jobs.begin(), jobs.end(), [&](size_t x, size_t y) {
        const auto& a = plan.layers[x];
        const auto& b = plan.layers[y];
        return a.in * a.out > b.in * b.out;
    });
    return jobs;
}

MethodOutput run_method(const Method& method, const Model& model, const LayerPlan& l,
                        const LayerStats& stats, const MethodOptions& options, int64_t rank,
                        const std::string& source) {
    const float* w = model.find_data(l.prefix + ".weight");
    FWSVD_CHECK(w, source, ": no tensor '", l.prefix, ".weight'");
    const std::vector<double> w64(w, w + l.out * l.in);
    MethodInput in;
    in.weight = w64.data();
    in.out = l.out;
    in.in = l.in;
    in.rank = rank;
    in.stats = stats;
    in.options = &options;
    try {
        return method.factorize(in);
    } catch (const Error& e) {
        throw Error(str_cat(method.name, " on '", l.prefix, "': ", e.what()), e.kind());
    }
}

std::string fmt_g(double x) {
    std::ostringstream os;
    os.precision(4);
    os << x;
    return os.str();
}

// Greedy allocation (Allocation::greedy): factors every selected layer once at its largest
// candidate rank with the (profile) method, reads each multiple's sensitivity, allocates, and
// returns the nested factors (for truncation to the chosen ranks; empty for a layer left dense
// or a method that is not nested).
std::vector<LowRankFactorsF64> plan_greedy(RankPlan& plan, const Model& model, const Method& method,
                                           const std::vector<LayerStats>& stats_of,
                                           const CompressOptions& options, GemmTimer* timer,
                                           Progress* progress, const std::string& source) {
    const RankSpec& spec = options.ranks;
    const int64_t q = options.rank_multiple;
    if (q < 1) {
        throw Error(str_cat("--rank-multiple must be >= 1 (got ", q, ")"), ErrorKind::usage);
    }
    const Method& prof = method.nested ? method : method_named(method.profile);
    const bool latency = spec.rule == RankRule::latency_ratio;
    const size_t n = plan.layers.size();
    // The largest multiple of q at which each selected layer still shrinks.
    std::vector<int64_t> cap(n, 0);
    std::vector<bool> todo(n, false);
    for (size_t i = 0; i < n; ++i) {
        const LayerPlan& l = plan.layers[i];
        if (!l.selected) continue;
        for (int64_t r = q; r <= std::min(l.in, l.out) && shrinks(l, r); r += q) cap[i] = r;
        todo[i] = cap[i] > 0;
    }
    std::vector<LowRankFactorsF64> factors(n);
    std::vector<std::vector<double>> sens(n);
    const std::vector<size_t> jobs = largest_first(plan, todo);
    parallel_jobs(int64_t(jobs.size()), progress, [&](int64_t j) {
        const size_t i = jobs[size_t(j)];
        const LayerPlan& l = plan.layers[i];
        MethodOutput out =
            run_method(prof, model, l, stats_of[i], options.method_options, cap[i], source);
        const float* w = model.find_data(l.prefix + ".weight");
        if (options.sensitivity == Sensitivity::kfac) {
            const CovFactor c =
                covariance_factor(stats_of[i].input_cov, l.in, options.method_options.damping);
            sens[i] = c.l.empty()
                          ? fisher_truncation_errors(w, stats_of[i].fisher, out.factors, q)
                          : kfac_truncation_errors(w, stats_of[i].fisher, stats_of[i].input_cov,
                                                   c.delta, out.factors, q);
        } else {
            sens[i] = fisher_truncation_errors(w, stats_of[i].fisher, out.factors, q);
        }
        factors[i] = std::move(out.factors);
    });

    auto cost = [&](const LayerPlan& l, int64_t r) {
        return latency ? double(l.uses) * layer_micros(*timer, l.in, l.out, r)
                       : double(linear_weight_count(l.in, l.out, r));
    };
    std::vector<std::vector<RankOption>> menus(n);
    double before = 0;
    for (size_t i = 0; i < n; ++i) {
        const LayerPlan& l = plan.layers[i];
        const double dense = cost(l, 0);
        before += dense;
        std::vector<RankOption> m = {{0, dense, 0.0}};
        for (size_t k = 0; k < sens[i].size(); ++k) {
            const int64_t r = q * int64_t(k + 1);
            m.push_back({r, cost(l, r), sens[i][k]});
        }
        menus[i] = pareto_options(std::move(m));
    }
    const double budget = spec.ratio * before;
    double cheapest = 0;
    for (const auto& m : menus) cheapest += m.front().cost;
    const char* unit = latency ? "us of linear-layer time" : "encoder linear weights";
    if (cheapest > budget) {
        throw Error(str_cat(spec.str(), " cannot be reached with ranks that are multiples of ", q,
                            ": the cheapest choice keeps ", cheapest, " of ", before, " ", unit,
                            " (fraction ", cheapest / before, ")"),
                    ErrorKind::usage);
    }
    const GreedyResult g = allocate_greedy(menus, budget);
    plan.allocation = Allocation::greedy;
    plan.sensitivity = options.sensitivity;
    plan.rank_multiple = q;
    plan.threshold = g.threshold;
    plan.uniform_rank = 0;
    if (latency) {
        plan.micros_before = before;
        plan.micros_after = g.cost;
    }
    const char* per = latency ? "us" : "weight";
    for (size_t i = 0; i < n; ++i) {
        LayerPlan& l = plan.layers[i];
        const RankOption& o = menus[i][g.choice[i]];
        l.rank = o.rank;
        l.factored = o.rank > 0;
        if (latency) {
            l.micros_before = cost(l, 0) / double(l.uses);
            l.micros_after = o.cost / double(l.uses);
        }
        if (!l.selected) {
            l.rank = 0;
            l.factored = false;
            l.dense_reason = "not matched by --layers";
            continue;
        }
        l.sensitivity = o.sensitivity;
        std::string why = "greedy: ";
        if (g.last_ratio[i] >= 0) {
            why += str_cat("its last step removed ", fmt_g(g.last_ratio[i]), " sensitivity per ",
                           per, " (the smallest step taken removed ", fmt_g(g.threshold), ")");
        } else {
            why += "left at its cheapest option";
        }
        if (g.next_ratio[i] >= 0) {
            why += str_cat("; a larger rank would remove ", fmt_g(g.next_ratio[i]), " per ", per,
                           " but does not fit the budget left");
        } else if (l.factored) {
            why += "; no larger rank lowers its sensitivity";
        }
        if (l.factored) {
            l.dense_reason.clear();
        } else {
            l.dense_reason = cap[i] == 0 ? str_cat("no multiple of ", q, " shrinks it")
                                         : "dense is the best use of the budget";
        }
        l.why = why;
    }
    plan.params_after = 0;
    for (const auto& l : plan.layers) plan.params_after += l.params();
    if (!method.nested) factors.assign(n, LowRankFactorsF64{});
    return factors;
}

CompressResult compress_auto(const Model& model, const Stats* stats, const CompressOptions& options,
                             Progress* progress) {
    if (!options.holdout) {
        throw Error("--method auto needs held-out labelled examples (--data)", ErrorKind::usage);
    }
    const unsigned have = stats ? stats->kinds() : 0u;
    std::vector<const Method*> cands;
    if (options.auto_methods.empty()) {
        for (const Method* m : methods()) {
            if (m->closed_form && (m->needs & have) == m->needs) cands.push_back(m);
        }
    } else {
        for (const auto& name : options.auto_methods) cands.push_back(&method_named(name));
    }
    if (cands.empty()) {
        throw Error("--method auto: no candidate method has its statistics", ErrorKind::usage);
    }
    std::vector<bool> refits = {options.method_options.refit};
    if (!options.method_options.refit && (have & kStatInputCov)) refits.push_back(true);
    std::unique_ptr<GemmTimer> own;
    CompressOptions o = options;
    if (o.ranks.rule == RankRule::latency_ratio && !o.timer) {
        own = measured_gemm_timer(o.latency_rows, o.latency_threads);
        o.timer = own.get();
    }
    // The dense model's held-out predictions, for the divergence.
    const std::vector<float> dense = holdout_logits(
        Model::from_flat(model.config(), model.layout(), model.copy_flat()), *options.holdout);
    auto score = [&](const AutoCandidate& c) {
        switch (options.auto_criterion) {
            case AutoCriterion::error:
                return c.holdout_accuracy >= 0 ? 1 - c.holdout_accuracy : c.holdout_loss;
            case AutoCriterion::loss:
                return c.holdout_loss;
            case AutoCriterion::divergence:
                return c.holdout_divergence;
        }
        return c.holdout_loss;
    };
    std::optional<CompressResult> best;
    std::vector<AutoCandidate> tried;
    for (const Method* m : cands) {
        for (bool refit : refits) {
            o.method = m->name;
            o.method_options.refit = refit;
            CompressResult r = compress_model(model, stats, o, nullptr);
            auto cm = Model::from_flat(r.config, r.layout, r.flat);
            AutoCandidate c;
            c.method = m->name;
            c.refit = refit;
            const HoldoutScore hs = score_holdout(model.config(), *options.holdout,
                                                  holdout_logits(cm, *options.holdout), &dense);
            c.holdout_loss = hs.loss;
            c.holdout_accuracy = hs.accuracy;
            c.holdout_divergence = hs.divergence;
            c.params_after = r.plan.params_after;
            tried.push_back(c);
            if (!best || score(c) < score(best->candidates.front())) {
                best = std::move(r);
                best->candidates = {c};
            }
            if (progress) progress->add(1);
        }
    }
    best->block.selected_by = "auto";
    best->auto_criterion = options.auto_criterion;
    best->candidates = std::move(tried);
    apply_block(*best);
    return std::move(*best);
}

}  // namespace

unsigned needed_stats(const CompressOptions& o) {
    unsigned needs = o.method == "auto" ? 0u : method_named(o.method).needs;
    if (o.method_options.refit) needs |= kStatInputCov;
    if (o.allocate == Allocation::greedy) needs |= kStatFisher;
    if (o.allocate == Allocation::greedy && o.sensitivity == Sensitivity::kfac) {
        needs |= kStatInputCov;
    }
    return needs;
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
    if (options.method == "auto") {
        CompressResult r = compress_auto(model, stats, options, progress);
        r.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
        return r;
    }
    const Method& method = method_named(options.method);
    const MethodOptions& mo = options.method_options;
    const unsigned needs = needed_stats(options);
    const unsigned have = stats ? stats->kinds() : 0u;
    if ((needs & have) != needs) {
        std::string why = method.name;
        if ((method.needs & have) == method.needs) {
            why = (needs & ~have & kStatFisher) ? "--allocate greedy"
                  : mo.refit                    ? "--refit"
                                                : "--sensitivity kfac";
        }
        throw Error(str_cat(why, " needs the ", stat_kinds_str(needs & ~have),
                            " of the model (--data, or a statistics file from fwsvd stats / "
                            "fwsvd fisher)"),
                    ErrorKind::usage);
    }
    std::unique_ptr<GemmTimer> own_timer;
    GemmTimer* timer = options.timer;
    if (options.ranks.rule == RankRule::latency_ratio && !timer) {
        own_timer = measured_gemm_timer(options.latency_rows, options.latency_threads);
        timer = own_timer.get();
    }
    CompressResult res;
    const bool greedy = options.allocate == Allocation::greedy;
    if (greedy && !options.ranks.is_budget()) {
        throw Error(str_cat("--allocate greedy needs a budget (--param-ratio or --latency-ratio), "
                            "not ",
                            options.ranks.str()),
                    ErrorKind::usage);
    }
    // Greedy starts from the layer list of a rule every layer can meet (rank 1); the allocation
    // below replaces the ranks.
    RankSpec base = options.ranks;
    if (greedy) base = RankSpec{RankRule::rank, 1, 0};
    res.plan = plan_ranks(model.config(), base, options.layers_regex,
                          options.force_factor && !greedy, timer, options.rank_multiple);
    // The statistics of every layer that may be factored.
    std::vector<LayerStats> stats_of(res.plan.layers.size());
    if (stats) {
        for (size_t i = 0; i < res.plan.layers.size(); ++i) {
            const LayerPlan& l = res.plan.layers[i];
            if (l.selected) stats_of[i] = stats->layer(model.config(), l.prefix, needs);
        }
    }
    std::vector<LowRankFactorsF64> nested;
    if (greedy) {
        nested = plan_greedy(res.plan, model, method, stats_of, options, timer, progress, source);
        if (options.ranks.rule == RankRule::param_ratio) {
            FWSVD_CHECK(res.plan.fraction() <= options.ranks.ratio + 1e-12,
                        "internal: greedy allocation exceeds the budget");
        }
    }
    if (res.plan.num_factored() == 0) {
        throw Error(str_cat("nothing to compress: with ", options.ranks.str(),
                            " no selected layer would shrink (a layer [out, in] shrinks only "
                            "when rank*(in+out) < in*out)"));
    }
    // --refit: the loading of each layer's covariance (covariance_factor's δ).
    auto refit = [&](const LayerPlan& l, const LayerStats& ls, LowRankFactorsF64& f,
                     std::vector<std::string>& notes) {
        const CovFactor c = covariance_factor(ls.input_cov, l.in, mo.damping);
        if (c.l.empty()) {
            notes.push_back(c.note + "; not refitted");
            return;
        }
        if (!c.note.empty()) notes.push_back(c.note);
        const float* w = model.find_data(l.prefix + ".weight");
        const std::vector<double> w64(w, w + l.out * l.in);
        refit_b(w64.data(), ls.input_cov, c.delta, f);
    };

    // Factorize, largest layers first so that dynamic scheduling balances the threads.
    res.layers.resize(res.plan.layers.size());
    std::vector<LowRankFactors> factors(res.plan.layers.size());
    std::vector<bool> factored(res.plan.layers.size());
    for (size_t i = 0; i < res.plan.layers.size(); ++i) {
        res.layers[i].plan = res.plan.layers[i];
        factored[i] = res.plan.layers[i].factored;
    }
    const std::vector<size_t> jobs = largest_first(res.plan, factored);
    parallel_jobs(int64_t(jobs.size()), greedy ? nullptr : progress, [&](int64_t j) {
        const size_t i = jobs[size_t(j)];
        const auto t0 = std::chrono::steady_clock::now();
        const LayerPlan& l = res.plan.layers[i];
        MethodOutput out;
        if (i < nested.size() && nested[i].rank > 0) {
            out.factors = truncate_factors(nested[i], l.rank);
        } else {
            out = run_method(method, model, l, stats_of[i], mo, l.rank, source);
        }
        if (mo.refit) refit(l, stats_of[i], out.factors, out.notes);
        factors[i] = round_factors(std::move(out.factors));
        res.layers[i].notes = std::move(out.notes);
        res.layers[i].error = reconstruction_error(model.find_data(l.prefix + ".weight"),
                                                   factors[i], stats_of[i].fisher);
        res.layers[i].seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });

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
    res.block.refit = mo.refit;
    if (greedy) res.block.allocation = "greedy";
    // The options the new methods read (svd and fwsvd take none: their blocks stay as they were).
    nlohmann::json opts = nlohmann::json::object();
    if (method.reads & kReadsAlpha) opts["alpha"] = mo.alpha;
    if (method.reads & kReadsIters) opts["iters"] = mo.iters;
    if ((method.reads & kReadsDamping) || mo.refit) opts["damping"] = mo.damping;
    if (!opts.empty()) res.block.method_options = opts;
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
    j["allocation"] = allocation_name(r.plan.allocation);
    if (r.plan.rank_multiple > 0) j["rank_multiple"] = r.plan.rank_multiple;
    if (r.plan.allocation == Allocation::greedy) {
        j["sensitivity"] =
            r.plan.sensitivity == Sensitivity::kfac
                ? "kfac: sum_o f_o ((W - W_r) C (W - W_r)^T)_oo / tr(C), f_o the row sums of F, "
                  "C = E[x x^T], of the method's truncation at rank r (Kronecker-factored "
                  "estimate of twice the loss increase)"
                : "fisher: sum F*(W - W_r)^2 of the method's truncation at rank r "
                  "(diagonal-Fisher estimate of twice the loss increase)";
        j["threshold"] = r.plan.threshold;
    }
    if (r.plan.micros_before > 0) {
        nlohmann::ordered_json lat;
        lat["micros_before"] = r.plan.micros_before;
        lat["micros_after"] = r.plan.micros_after;
        lat["fraction"] = r.plan.latency_fraction();
        lat["measured"] =
            "sum over the encoder's linear layers (and uses) of packed-GEMM time, one sequence of "
            "--seq rows, --threads threads";
        j["linear_latency"] = lat;
    }
    if (r.block.refit) j["refit"] = true;
    if (!r.candidates.empty()) {
        nlohmann::ordered_json c = nlohmann::ordered_json::array();
        for (const auto& a : r.candidates) {
            nlohmann::ordered_json x;
            x["method"] = a.method;
            x["refit"] = a.refit;
            x["holdout_loss"] = a.holdout_loss;
            x["holdout_accuracy"] =
                a.holdout_accuracy >= 0 ? nlohmann::ordered_json(a.holdout_accuracy) : nullptr;
            x["holdout_divergence"] = a.holdout_divergence;
            x["params_after"] = a.params_after;
            c.push_back(std::move(x));
        }
        j["auto_candidates"] = std::move(c);
        j["auto_criterion"] = auto_criterion_name(r.auto_criterion);
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
        if (!l.plan.why.empty()) x["why"] = l.plan.why;
        if (l.plan.sensitivity >= 0) x["sensitivity"] = l.plan.sensitivity;
        if (l.plan.micros_before >= 0) {
            x["micros_before"] = l.plan.micros_before;
            x["micros_after"] = l.plan.micros_after;
        }
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
