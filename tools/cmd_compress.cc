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

struct CompressArgs {
    std::string model_dir;
    std::string method;
    int64_t rank = 0;
    double rank_ratio = 0;
    double param_ratio = 0;
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
};

RankSpec rank_spec(const CompressArgs& a) {
    const int given = int(a.rank_opt->count() > 0) + int(a.rank_ratio_opt->count() > 0) +
                      int(a.param_ratio_opt->count() > 0);
    if (given != 1) {
        throw Error("give exactly one of --rank, --rank-ratio, --param-ratio", ErrorKind::usage);
    }
    RankSpec s;
    if (a.rank_opt->count()) {
        s.rule = RankRule::rank;
        s.rank = a.rank;
    } else if (a.rank_ratio_opt->count()) {
        s.rule = RankRule::rank_ratio;
        s.ratio = a.rank_ratio;
    } else {
        s.rule = RankRule::param_ratio;
        s.ratio = a.param_ratio;
    }
    return s;
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
    std::printf(", %.2f s\n", r.seconds);
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
    std::printf("whole model parameters: %lld -> %lld (%.2f%%)\n", (long long)r.model_params_before,
                (long long)r.model_params_after,
                100 * double(r.model_params_after) / double(r.model_params_before));
}

void compress_command(const CompressArgs& a) {
    set_num_threads(a.threads);
    const RankSpec spec = rank_spec(a);
    const Method& method = method_named(a.method);
    if (!a.stats_file.empty() && !a.data_file.empty()) {
        throw Error("give --stats (or --fisher) or --data, not both", ErrorKind::usage);
    }
    if (method.needs && a.stats_file.empty() && a.data_file.empty()) {
        throw Error(str_cat("--method ", method.name, " needs the ", stat_kinds_str(method.needs),
                            ": give --fisher FILE (from `fwsvd fisher` or `fwsvd stats`) or --data "
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
    // Validate the rank rule and the layer filter before any long statistics pass.
    const RankPlan preview = plan_ranks(model.config(), spec, a.layers);
    if (preview.num_factored() == 0) {
        throw Error(str_cat("nothing to compress: with ", spec.str(),
                            " no selected layer would shrink (a layer [out, in] shrinks only "
                            "when rank*(in+out) < in*out)"));
    }
    const std::string checksum = model.checksum();

    Stats stats;
    bool have_stats = false;
    nlohmann::json stats_info = nullptr;
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
    } else if (!a.data_file.empty()) {
        const bool labels = (method.needs & kStatFisher) != 0 || method.needs == 0;
        Dataset ds = read_dataset(a.data_file, a.data.options(labels));
        EncodedData enc = m.encode(ds, a.data.max_len, labels);
        StatsOptions so;
        // With --data, a method that needs nothing still gets the Fisher, for the report's
        // Fisher-weighted errors.
        so.kinds = method.needs ? method.needs : unsigned(kStatFisher);
        so.examples = a.examples >= int64_t(enc.encodings.size()) ? 0 : a.examples;
        so.seed = a.seed;
        const int64_t n = so.examples > 0 ? so.examples : int64_t(enc.encodings.size());
        {
            Progress progress("stats", n);
            stats = compute_stats(model, enc, so, &progress);
        }
        have_stats = true;
        stats_info = {{"data", a.data_file},
                      {"examples", stats.examples},
                      {"seed", stats.seed},
                      {"max_len", a.data.max_len},
                      {"checksum", sha256_file(a.data_file)}};
    }

    CompressOptions co;
    co.method = method.name;
    co.ranks = spec;
    co.layers_regex = a.layers;
    co.embedding_rank = a.embeddings;
    CompressResult r;
    {
        Progress progress("compress", preview.num_factored(), "layers");
        r = compress_model(model, have_stats ? &stats : nullptr, co, &progress);
    }
    r.block.source_model = a.model_dir;
    r.block.source_checksum = checksum;
    r.block.statistics = stats_info;
    apply_block(r);
    save_checkpoint(a.out_dir, r.config, r.layout, r.flat.data<float>(), a.model_dir,
                    {{"fwsvd_format", kLowRankFormat}, {"fwsvd_method", a.method}});

    print_table(a, r);
    if (!a.report.empty()) {
        nlohmann::ordered_json rep;
        rep["model"] = a.model_dir;
        rep["out"] = a.out_dir;
        rep["source_checksum"] = checksum;
        rep["fisher"] = stats_info;
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
    a->rank_opt->excludes(a->rank_ratio_opt)->excludes(a->param_ratio_opt);
    a->rank_ratio_opt->excludes(a->param_ratio_opt);
    sub->add_option("--out", a->out_dir, "Output model folder (written atomically)")->required();
    sub->add_option("--data", a->data_file,
                    "Training file (TSV/JSONL) to compute the statistics the method needs from");
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
                    "Threads: layers are factorized in parallel (default: all cores, or "
                    "OMP_NUM_THREADS)")
        ->check(CLI::Range(0, 1024));
    a->data.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { compress_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
