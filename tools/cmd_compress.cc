// fwsvd compress: factor the encoder's linear layers of a fine-tuned model with a compression
// method (compressor/method.h) and write the factored checkpoint (an HF-style folder with a
// low_rank block in config.json). The statistics the method needs come from a file (`fwsvd
// stats` / `fwsvd fisher`) or are computed from --data.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compressor/compress.h"
#include "compressor/method.h"
#include "compressor/stats.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/sha256.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace fwsvd::cli {
namespace {

// Default statistics sample: a seeded random sample of this many training examples (0: all of
// them, as Hsu et al. do). 8000 keeps a BERT-base Fisher pass to minutes on a CPU.
constexpr int64_t kDefaultFisherExamples = 8000;

// --method auto: held-out examples taken from --data beside the statistics' sample.
constexpr int64_t kDefaultHoldout = 1000;

struct CompressArgs {
    std::string model_dir;
    std::string method;
    int64_t rank = 0;
    double rank_ratio = 0;
    double param_ratio = 0;
    double latency_ratio = 0;
    std::string allocate = "uniform";
    std::string sensitivity = "auto";
    int64_t rank_multiple = kDefaultRankMultiple;
    int64_t seq = 128;
    MethodOptions method_options;
    int64_t holdout = kDefaultHoldout;
    std::string auto_methods;
    std::string auto_criterion = "error";
    std::string out_dir;
    std::string data_file;
    int64_t examples = kDefaultFisherExamples;
    uint64_t seed = 0;
    std::string stats_file;
    bool force = false;
    std::string layers;
    int64_t embeddings = 0;
    std::string report;
    int threads = 0;
    DataFlags data;
    CLI::Option* rank_opt = nullptr;
    CLI::Option* rank_ratio_opt = nullptr;
    CLI::Option* param_ratio_opt = nullptr;
    CLI::Option* latency_ratio_opt = nullptr;
};

RankSpec rank_spec(const CompressArgs& a) {
    const int given = int(a.rank_opt->count() > 0) + int(a.rank_ratio_opt->count() > 0) +
                      int(a.param_ratio_opt->count() > 0) + int(a.latency_ratio_opt->count() > 0);
    if (given != 1) {
        throw Error("give exactly one of --rank, --rank-ratio, --param-ratio, --latency-ratio",
                    ErrorKind::usage);
    }
    RankSpec s;
    if (a.rank_opt->count()) {
        s.rule = RankRule::rank;
        s.rank = a.rank;
    } else if (a.rank_ratio_opt->count()) {
        s.rule = RankRule::rank_ratio;
        s.ratio = a.rank_ratio;
    } else if (a.param_ratio_opt->count()) {
        s.rule = RankRule::param_ratio;
        s.ratio = a.param_ratio;
    } else {
        s.rule = RankRule::latency_ratio;
        s.ratio = a.latency_ratio;
    }
    return s;
}

// The examples `order` of data, as their own EncodedData.
EncodedData subset(const EncodedData& data, const std::vector<size_t>& order) {
    EncodedData d;
    d.source = data.source;
    d.has_labels = data.has_labels;
    d.pairs = data.pairs;
    for (size_t i : order) {
        d.encodings.push_back(data.encodings.at(i));
        d.lines.push_back(data.lines.at(i));
        if (!data.targets.classes.empty()) d.targets.classes.push_back(data.targets.classes[i]);
        if (!data.targets.values.empty()) d.targets.values.push_back(data.targets.values[i]);
    }
    return d;
}

std::vector<std::string> split_list(const std::string& list) {
    std::vector<std::string> out;
    size_t begin = 0;
    while (begin <= list.size()) {
        const size_t comma = list.find(',', begin);
        out.push_back(list.substr(begin, comma == std::string::npos ? comma : comma - begin));
        if (comma == std::string::npos) break;
        begin = comma + 1;
    }
    return out;
}

std::string fmt_error(double x) {
    if (x < 0) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", x);
    return buf;
}

void print_table(const CompressArgs& a, const CompressResult& r) {
    std::printf("%s -> %s: %s, %s", a.model_dir.c_str(), a.out_dir.c_str(), r.block.method.c_str(),
                r.block.rank_rule.c_str());
    if (r.plan.uniform_rank > 0) std::printf(" (rank %lld)", (long long)r.plan.uniform_rank);
    if (r.plan.allocation == Allocation::greedy) {
        std::printf(" (greedy, ranks multiples of %lld)", (long long)r.plan.rank_multiple);
    }
    if (r.block.refit) std::printf(", refit");
    std::printf(", %.2f s\n", r.seconds);
    if (!r.candidates.empty()) {
        std::printf("auto: each candidate on the held-out examples (lowest %s kept)\n",
                    auto_criterion_name(r.auto_criterion));
        std::printf("  %-14s %-6s %10s %10s %10s\n", "method", "", "loss", "accuracy",
                    "divergence");
        for (const auto& c : r.candidates) {
            std::printf("  %-14s %-6s %10.6f %10s %10.6f\n", c.method.c_str(),
                        c.refit ? "refit" : "", c.holdout_loss,
                        fmt_error(c.holdout_accuracy).c_str(), c.holdout_divergence);
        }
    }
    std::printf("%-45s %-11s %6s %10s %10s %9s %10s\n", "layer", "[out, in]", "rank", "before",
                "after", "rel.err", "fisher.err");
    for (const auto& l : r.layers) {
        const auto& p = l.plan;
        char shape[32];
        std::snprintf(shape, sizeof shape, "%lldx%lld", (long long)p.out, (long long)p.in);
        if (p.factored) {
            std::printf("%-45s %-11s %6lld %10lld %10lld %9s %10s\n", p.prefix.c_str(), shape,
                        (long long)p.rank, (long long)(p.in * p.out), (long long)p.params(),
                        fmt_error(l.error.plain).c_str(), fmt_error(l.error.fisher).c_str());
        } else {
            std::printf("%-45s %-11s %6s %10lld %10lld  dense: %s\n", p.prefix.c_str(), shape, "-",
                        (long long)(p.in * p.out), (long long)p.params(), p.dense_reason.c_str());
        }
        for (const auto& note : l.notes)
            std::printf("  note: %s: %s\n", p.prefix.c_str(), note.c_str());
    }
    std::printf("encoder linear weights: %lld -> %lld (%.2f%%); %lld of %zu layers factored\n",
                (long long)r.plan.params_before, (long long)r.plan.params_after,
                100 * r.plan.fraction(), (long long)r.plan.num_factored(), r.plan.layers.size());
    if (r.embeddings.rank > 0) {
        std::printf("word embeddings: rank %lld, %lld -> %lld parameters, rel.err %.4f\n",
                    (long long)r.embeddings.rank, (long long)r.embeddings.params_before,
                    (long long)r.embeddings.params_after, r.embeddings.rel_error);
    }
    if (r.plan.micros_before > 0) {
        std::printf("encoder linear-layer time at seq %lld: %.1f -> %.1f us (%.2f%%)\n",
                    (long long)a.seq, r.plan.micros_before, r.plan.micros_after,
                    100 * r.plan.latency_fraction());
    }
    std::printf("whole model parameters: %lld -> %lld (%.2f%%)\n", (long long)r.model_params_before,
                (long long)r.model_params_after,
                100 * double(r.model_params_after) / double(r.model_params_before));
}

void compress_command(const CompressArgs& a) {
    set_num_threads(a.threads);
    const RankSpec spec = rank_spec(a);
    const bool is_auto = a.method == "auto";
    CompressOptions co;
    co.method = a.method;
    co.method_options = a.method_options;
    co.ranks = spec;
    co.layers_regex = a.layers;
    co.embedding_rank = a.embeddings;
    co.allocate = a.allocate == "greedy" ? Allocation::greedy : Allocation::uniform;
    co.rank_multiple = a.rank_multiple;
    co.auto_criterion = a.auto_criterion == "divergence" ? AutoCriterion::divergence
                        : a.auto_criterion == "loss"     ? AutoCriterion::loss
                                                         : AutoCriterion::error;
    co.latency_rows = a.seq;
    co.latency_threads = a.threads;
    if (!a.auto_methods.empty()) {
        if (!is_auto) throw Error("--auto-methods goes with --method auto", ErrorKind::usage);
        co.auto_methods = split_list(a.auto_methods);
        for (const auto& m : co.auto_methods) method_named(m);  // usage error if unknown
    }
    if (co.allocate == Allocation::greedy && !spec.is_budget()) {
        throw Error("--allocate greedy needs --param-ratio or --latency-ratio", ErrorKind::usage);
    }
    co.sensitivity = a.sensitivity == "kfac" ? Sensitivity::kfac : Sensitivity::fisher;
    // auto: kfac where the statistics will hold E[x xᵀ] (decided below for a --stats file).
    const bool auto_sensitivity = a.sensitivity == "auto";
    if (auto_sensitivity) {
        const bool cov =
            a.stats_file.empty() &&
            (is_auto || (method_named(a.method).needs & kStatInputCov) || a.method_options.refit);
        co.sensitivity = cov ? Sensitivity::kfac : Sensitivity::fisher;
    }
    const unsigned needs = needed_stats(co);
    if (!a.stats_file.empty() && !a.data_file.empty() && !is_auto) {
        throw Error(
            "give --stats (or --fisher) or --data, not both (both only with --method "
            "auto: --data then gives the held-out examples)",
            ErrorKind::usage);
    }
    if (is_auto && a.data_file.empty()) {
        throw Error(
            "--method auto needs --data: it compares the methods' losses on held-out "
            "examples of that file (and computes the statistics from the rest unless "
            "--stats is given)",
            ErrorKind::usage);
    }
    if (needs && a.stats_file.empty() && a.data_file.empty()) {
        throw Error(
            str_cat("--method ", a.method,
                    co.allocate == Allocation::greedy ? " --allocate greedy" : "",
                    a.method_options.refit ? " --refit" : "", " needs the ", stat_kinds_str(needs),
                    ": give --stats FILE (from `fwsvd stats` or `fwsvd fisher`) or --data "
                    "TRAIN_FILE to compute it"),
            ErrorKind::usage);
    }
    if (a.examples < 0) throw Error("--examples must be >= 0", ErrorKind::usage);
    std::vector<std::filesystem::path> inputs = {a.model_dir};
    if (!a.stats_file.empty()) inputs.push_back(a.stats_file);
    if (!a.data_file.empty()) inputs.push_back(a.data_file);
    check_output_distinct(a.out_dir, inputs);
    if (!a.report.empty()) check_output_distinct(a.report, inputs);

    ModelLoadOptions lo;
    lo.require_classifier = false;
    LoadedModel m = load_model_and_tokenizer(a.model_dir, lo);
    const Model& model = *m.model;
    if (!model.layout().options().ranks.empty()) {
        throw Error(str_cat(a.model_dir, ": already compressed (layer '",
                            model.layout().options().ranks.begin()->first,
                            "' is factored); compress the dense model it came from"));
    }
    // Validate the rank rule and the layer filter before any long statistics pass (a latency
    // budget is checked once the GEMMs are timed).
    int64_t progress_total = 0;
    {
        RankSpec check = spec;
        if (spec.rule == RankRule::latency_ratio || co.allocate == Allocation::greedy) {
            check = RankSpec{RankRule::rank, 1, 0};
        }
        const RankPlan preview = plan_ranks(model.config(), check, a.layers);
        if (preview.num_factored() == 0) {
            throw Error(str_cat("nothing to compress: with ", spec.str(),
                                " no selected layer would shrink (a layer [out, in] shrinks only "
                                "when rank*(in+out) < in*out)"));
        }
        if (check.rule == spec.rule && !is_auto) progress_total = preview.num_factored();
    }
    const std::string checksum = model.checksum();

    Stats stats;
    bool have_stats = false;
    nlohmann::json stats_info = nullptr;
    int64_t stats_examples = 0;  // of --data's shuffle, the first this many are the statistics'
    uint64_t stats_seed = a.seed;
    if (!a.stats_file.empty()) {
        stats = load_stats(a.stats_file);
        have_stats = true;
        if (stats.model_checksum != checksum) {
            const std::string msg =
                str_cat(a.stats_file, ": computed for a model with checksum ",
                        stats.model_checksum.empty() ? "(none recorded)" : stats.model_checksum,
                        " but ", a.model_dir, "/model.safetensors has ", checksum);
            if (!a.force) {
                throw Error(msg +
                            "; recompute it for this model or pass --force to use it "
                            "anyway");
            }
            std::cerr << "fwsvd: warning: " << msg << " (--force)\n";
        }
        stats_info = {{"file", a.stats_file},
                      {"examples", stats.examples},
                      {"seed", stats.seed},
                      {"checksum", sha256_file(a.stats_file)},
                      {"model_checksum", stats.model_checksum}};
        stats_examples = stats.examples;
        stats_seed = stats.seed;
        if (auto_sensitivity && (stats.kinds() & kStatInputCov)) co.sensitivity = Sensitivity::kfac;
    }
    EncodedData holdout;
    nlohmann::json holdout_info = nullptr;
    if (!a.data_file.empty()) {
        const bool labels = is_auto || (needs & kStatFisher) != 0 || needs == 0;
        Dataset ds = read_dataset(a.data_file, a.data.options(labels));
        EncodedData enc = m.encode(ds, a.data.max_len, labels);
        const int64_t n = int64_t(enc.encodings.size());
        if (is_auto) {
            if (a.holdout < 1) throw Error("--holdout must be >= 1", ErrorKind::usage);
            if (a.stats_file.empty()) {
                if (n <= a.holdout) {
                    throw Error(str_cat(a.data_file, " has ", n,
                                        " examples: --method auto needs more than --holdout ",
                                        a.holdout, " (the rest give the statistics)"));
                }
                stats_examples =
                    a.examples > 0 ? std::min(a.examples, n - a.holdout) : n - a.holdout;
            } else if (stats_examples + a.holdout > n) {
                throw Error(str_cat(a.stats_file, " was computed on ", stats_examples,
                                    " examples; ", a.data_file, " has ", n,
                                    ", which leaves fewer "
                                    "than --holdout ",
                                    a.holdout,
                                    " held-out examples beside them: compute the statistics on "
                                    "fewer examples (fwsvd stats --examples) or lower --holdout"));
            }
            // The statistics take the first stats_examples of the seeded shuffle of the file
            // (stats_sample), the held-out slice the next ones: disjoint.
            std::vector<size_t> order =
                stats_sample(size_t(n), stats_examples + a.holdout, stats_seed);
            order.erase(order.begin(), order.begin() + stats_examples);
            holdout = subset(enc, order);
            holdout_info = {{"data", a.data_file},
                            {"examples", int64_t(order.size())},
                            {"after_first", stats_examples},
                            {"seed", stats_seed}};
        }
        if (a.stats_file.empty()) {
            StatsOptions so;
            // With --data, a method that needs nothing still gets the Fisher, for the report's
            // Fisher-weighted errors; auto gets every statistic.
            so.kinds = is_auto ? unsigned(kStatFisher | kStatInputAbsMean | kStatInputCov)
                               : (needs ? needs : unsigned(kStatFisher));
            if (is_auto) {
                so.examples = stats_examples;
            } else {
                so.examples = a.examples >= n ? 0 : a.examples;
            }
            so.seed = a.seed;
            const int64_t count = so.examples > 0 ? so.examples : n;
            {
                Progress progress("stats", count);
                stats = compute_stats(model, enc, so, &progress);
            }
            have_stats = true;
            stats_info = {{"data", a.data_file},
                          {"examples", stats.examples},
                          {"seed", stats.seed},
                          {"max_len", a.data.max_len},
                          {"checksum", sha256_file(a.data_file)}};
        }
    }
    if (is_auto) co.holdout = &holdout;

    CompressResult r;
    {
        Progress progress(is_auto ? "auto" : "compress", progress_total,
                          is_auto ? "candidates" : "layers");
        r = compress_model(model, have_stats ? &stats : nullptr, co, &progress);
    }
    r.block.source_model = a.model_dir;
    r.block.source_checksum = checksum;
    r.block.statistics = stats_info;
    apply_block(r);
    save_checkpoint(a.out_dir, r.config, r.layout, r.flat.data<float>(), a.model_dir,
                    {{"fwsvd_format", kLowRankFormat}, {"fwsvd_method", r.block.method}});

    print_table(a, r);
    if (!a.report.empty()) {
        nlohmann::ordered_json rep;
        rep["model"] = a.model_dir;
        rep["out"] = a.out_dir;
        rep["source_checksum"] = checksum;
        rep["fisher"] = stats_info;
        if (is_auto) rep["holdout"] = holdout_info;
        rep["threads"] = num_threads();
        const nlohmann::ordered_json body = compress_report_json(r);
        for (auto it = body.begin(); it != body.end(); ++it) rep[it.key()] = it.value();
        write_file_atomic(a.report, rep.dump(2) + "\n");
    }
    std::cout.flush();
    if (!std::cout.good()) throw Error("cannot write to standard output", ErrorKind::io);
}

}  // namespace

void setup_compress(CLI::App* app) {
    auto a = std::make_shared<CompressArgs>();
    CLI::App* sub = app->add_subcommand(
        "compress",
        "Factor the encoder's linear layers with a compression method (svd, fwsvd, ...)");
    sub->add_option("MODEL_DIR", a->model_dir,
                    "Dense model folder (config.json, "
                    "model.safetensors)")
        ->required();
    std::string methods_help = "Compression method:";
    std::vector<std::string> names;
    for (const Method* m : methods()) {
        methods_help += " " + m->name + " (" + m->summary + ");";
        names.push_back(m->name);
    }
    methods_help +=
        " auto (tries the closed-form methods, with and without --refit, and keeps the one that "
        "does best on held-out examples of --data, by --auto-criterion)";
    names.push_back("auto");
    sub->add_option("--method", a->method, methods_help)->required()->check(CLI::IsMember(names));
    a->rank_opt = sub->add_option("--rank", a->rank, "The same rank R for every layer")
                      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
    a->rank_ratio_opt = sub->add_option("--rank-ratio", a->rank_ratio,
                                        "Per layer rank round(F * min(in, out)), F in (0, 1]")
                            ->check(CLI::Range(0.0, 1.0));
    a->param_ratio_opt =
        sub->add_option("--param-ratio", a->param_ratio,
                        "Largest uniform rank keeping at most this fraction F of the encoder's "
                        "linear-layer weights (dense in*out, factored r*(in+out), biases "
                        "excluded)")
            ->check(CLI::Range(0.0, 1.0));
    a->latency_ratio_opt =
        sub->add_option("--latency-ratio", a->latency_ratio,
                        "Keep at most this fraction F of the encoder's linear-layer time, measured "
                        "here with the runtime's packed GEMMs at --seq rows and --threads threads")
            ->check(CLI::Range(0.0, 1.0));
    a->rank_opt->excludes(a->rank_ratio_opt)
        ->excludes(a->param_ratio_opt)
        ->excludes(a->latency_ratio_opt);
    a->rank_ratio_opt->excludes(a->param_ratio_opt)->excludes(a->latency_ratio_opt);
    a->param_ratio_opt->excludes(a->latency_ratio_opt);
    sub->add_option("--allocate", a->allocate,
                    "How a budget (--param-ratio, --latency-ratio) is spent: uniform (one rank for "
                    "every layer) or greedy (per layer, where the Fisher-weighted truncation error "
                    "drops most per weight or microsecond; needs the Fisher)")
        ->check(CLI::IsMember({"uniform", "greedy"}))
        ->capture_default_str();
    sub->add_option("--sensitivity", a->sensitivity,
                    "--allocate greedy: fisher (sum F*(W - W_r)^2, needs the Fisher), kfac "
                    "(Kronecker-factored: output rows of F times the input covariance, needs both) "
                    "or auto (kfac where the statistics hold E[x x^T], else fisher)")
        ->check(CLI::IsMember({"auto", "fisher", "kfac"}))
        ->capture_default_str();
    sub->add_option("--rank-multiple", a->rank_multiple,
                    "Greedy and --latency-ratio ranks are multiples of this")
        ->check(CLI::Range(int64_t(1), int64_t(4096)))
        ->capture_default_str();
    sub->add_option("--seq", a->seq, "With --latency-ratio: rows (tokens) of the timed GEMMs")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20))
        ->capture_default_str();
    sub->add_option("--alpha", a->method_options.alpha, "asvd: scale the inputs by mean|x|^alpha")
        ->check(CLI::Range(0.0, 16.0))
        ->capture_default_str();
    sub->add_option("--iters", a->method_options.iters,
                    "tfwsvd: alternating least-squares iterations")
        ->check(CLI::Range(0, 100000))
        ->capture_default_str();
    sub->add_option("--damping", a->method_options.damping,
                    "whiten, fisher-whiten, --refit: diagonal loading of E[x x^T], relative to its "
                    "mean diagonal")
        ->check(CLI::Range(0.0, 1e6))
        ->capture_default_str();
    sub->add_flag("--refit", a->method_options.refit,
                  "After truncation, refit B by least squares on the inputs' E[x x^T] (needs it)");
    sub->add_option("--holdout", a->holdout,
                    "--method auto: held-out examples of --data, beside the statistics' sample")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 30))
        ->capture_default_str();
    sub->add_option("--auto-criterion", a->auto_criterion,
                    "--method auto: rank the candidates on the held-out examples by their error "
                    "rate (error: 1 - accuracy, or the squared error for regression), task loss "
                    "(loss: cross-entropy or squared error) or divergence from the dense model's "
                    "predictions (divergence: KL, or squared difference for regression)")
        ->check(CLI::IsMember({"error", "loss", "divergence"}))
        ->capture_default_str();
    sub->add_option("--auto-methods", a->auto_methods,
                    "--method auto: comma-separated candidates (default: every closed-form method "
                    "whose statistics are present)");
    sub->add_option("--out", a->out_dir, "Output model folder (written atomically)")->required();
    sub->add_option("--data", a->data_file,
                    "Training file (TSV/JSONL) to compute the statistics the method needs from "
                    "(--method auto: also its held-out examples)");
    sub->add_option("--examples", a->examples,
                    "With --data: a seeded random sample of this many examples (0: all, as the "
                    "paper)")
        ->capture_default_str();
    sub->add_option("--seed", a->seed, "With --data: sampling seed")->capture_default_str();
    sub->add_option("--stats,--fisher", a->stats_file,
                    "Statistics file of this model (safetensors from `fwsvd stats` or `fwsvd "
                    "fisher`)");
    sub->add_flag("--force", a->force,
                  "Use a --stats file even if it was computed for a different model checksum");
    sub->add_option("--layers", a->layers,
                    "Only factor layers whose prefix matches this regular expression (ECMAScript, "
                    "searched), e.g. 'intermediate|output\\.dense'");
    sub->add_option("--embeddings", a->embeddings,
                    "Also factor the word embeddings [vocab, E] at this rank (truncated SVD: "
                    "codes [vocab, r] and a second factor [E, r])")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    sub->add_option("--report", a->report, "Write a JSON report (per-layer ranks and errors)");
    sub->add_option("--threads", a->threads,
                    "Threads: layers are factorized in parallel, and --latency-ratio times the "
                    "GEMMs on this many (default: all cores, or OMP_NUM_THREADS)")
        ->check(CLI::Range(0, 1024));
    a->data.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { compress_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
