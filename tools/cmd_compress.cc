// fwsvd compress: factor the encoder's linear layers of a fine-tuned BERT with SVD or FWSVD and
// write the factored checkpoint (an HF-style folder with a low_rank block in config.json).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compressor/compress.h"
#include "compressor/fisher.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/sha256.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace fwsvd::cli {
namespace {

// Default Fisher sample: a seeded random sample of this many training examples (0: all of them,
// as Hsu et al. do). 8000 keeps a BERT-base Fisher pass to minutes on a CPU.
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
    std::string fisher_file;
    bool force = false;
    std::string layers;
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
    std::printf("%s -> %s: %s, %s", a.model_dir.c_str(), a.out_dir.c_str(),
                r.config.low_rank.value("method", "").c_str(),
                r.config.low_rank.value("rank_rule", "").c_str());
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
        if (l.fisher_all_zero) {
            std::printf("  note: the Fisher of %s is all zero; factored by plain SVD\n",
                        p.prefix.c_str());
        }
    }
    std::printf("encoder linear weights: %lld -> %lld (%.2f%%); %lld of %zu layers factored\n",
                (long long)r.plan.params_before, (long long)r.plan.params_after,
                100 * r.plan.fraction(), (long long)r.plan.num_factored(), r.plan.layers.size());
    std::printf("whole model parameters: %lld -> %lld (%.2f%%)\n", (long long)r.model_params_before,
                (long long)r.model_params_after,
                100 * double(r.model_params_after) / double(r.model_params_before));
}

void compress_command(const CompressArgs& a) {
    set_num_threads(a.threads);
    const RankSpec spec = rank_spec(a);
    const LowRankMethod method = parse_method(a.method);
    if (!a.fisher_file.empty() && !a.data_file.empty()) {
        throw Error("give --fisher or --data, not both", ErrorKind::usage);
    }
    if (method == LowRankMethod::fwsvd && a.fisher_file.empty() && a.data_file.empty()) {
        throw Error(
            "--method fwsvd needs the Fisher information: give --fisher FILE (from "
            "`fwsvd fisher`) or --data TRAIN_FILE to compute it",
            ErrorKind::usage);
    }
    if (a.examples < 0) throw Error("--examples must be >= 0", ErrorKind::usage);
    std::vector<std::filesystem::path> inputs = {a.model_dir};
    if (!a.fisher_file.empty()) inputs.push_back(a.fisher_file);
    if (!a.data_file.empty()) inputs.push_back(a.data_file);
    check_output_distinct(a.out_dir, inputs);
    if (!a.report.empty()) check_output_distinct(a.report, inputs);

    ModelLoadOptions lo;
    lo.require_classifier = false;
    auto model = BertModel::load(a.model_dir, lo);
    if (!model->layout().options().ranks.empty()) {
        throw Error(str_cat(a.model_dir, ": already compressed (layer '",
                            model->layout().options().ranks.begin()->first,
                            "' is factored); compress the dense model it came from"));
    }
    // Validate the rank rule and the layer filter before any long Fisher pass.
    const RankPlan preview = plan_ranks(model->config(), spec, a.layers);
    if (preview.num_factored() == 0) {
        throw Error(str_cat("nothing to compress: with ", spec.str(),
                            " no selected layer would shrink (a layer [out, in] shrinks only "
                            "when rank*(in+out) < in*out)"));
    }
    const std::string checksum = model->checksum();

    FisherResult fisher;
    bool have_fisher = false;
    nlohmann::json fisher_info = nullptr;
    if (!a.fisher_file.empty()) {
        fisher = load_fisher(a.fisher_file);
        have_fisher = true;
        if (fisher.model_checksum != checksum) {
            const std::string msg =
                str_cat(a.fisher_file, ": computed for a model with checksum ",
                        fisher.model_checksum.empty() ? "(none recorded)" : fisher.model_checksum,
                        " but ", a.model_dir, "/model.safetensors has ", checksum);
            if (!a.force) {
                throw Error(msg +
                            "; recompute it for this model or pass --force to use it "
                            "anyway");
            }
            std::cerr << "fwsvd: warning: " << msg << " (--force)\n";
        }
        fisher_info = {{"file", a.fisher_file},
                       {"examples", fisher.examples},
                       {"seed", fisher.seed},
                       {"checksum", sha256_file(a.fisher_file)},
                       {"model_checksum", fisher.model_checksum}};
    } else if (!a.data_file.empty()) {
        auto tokenizer = load_tokenizer(a.model_dir);
        Dataset ds = read_dataset(a.data_file, a.data.options(true));
        EncodedData enc = encode_dataset(ds, *tokenizer, model->config(), a.data.max_len, true);
        FisherOptions fo;
        fo.examples = a.examples >= int64_t(enc.encodings.size()) ? 0 : a.examples;
        fo.seed = a.seed;
        const int64_t n = fo.examples > 0 ? fo.examples : int64_t(enc.encodings.size());
        {
            Progress progress("fisher", n);
            fisher = compute_fisher(*model, enc, fo, &progress);
        }
        have_fisher = true;
        fisher_info = {{"data", a.data_file},
                       {"examples", fisher.examples},
                       {"seed", fisher.seed},
                       {"max_len", a.data.max_len},
                       {"checksum", sha256_file(a.data_file)}};
    }

    CompressOptions co;
    co.method = method;
    co.ranks = spec;
    co.layers_regex = a.layers;
    CompressResult r;
    {
        Progress progress("compress", preview.num_factored(), "layers");
        r = compress_model(*model, have_fisher ? &fisher : nullptr, co, &progress);
    }
    r.config.low_rank["source_model"] = a.model_dir;
    r.config.low_rank["source_checksum"] = checksum;
    r.config.low_rank["fisher"] = fisher_info;
    save_checkpoint(a.out_dir, r.config, r.layout, r.flat.data<float>(), a.model_dir,
                    {{"fwsvd_format", kLowRankFormat}, {"fwsvd_method", a.method}});

    print_table(a, r);
    if (!a.report.empty()) {
        nlohmann::ordered_json rep;
        rep["model"] = a.model_dir;
        rep["out"] = a.out_dir;
        rep["source_checksum"] = checksum;
        rep["fisher"] = fisher_info;
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
        "compress", "Factor the encoder's linear layers with SVD or Fisher-weighted SVD");
    sub->add_option("MODEL_DIR", a->model_dir,
                    "Dense model folder (config.json, "
                    "model.safetensors)")
        ->required();
    sub->add_option("--method", a->method, "svd (plain truncated SVD) or fwsvd (Fisher-weighted)")
        ->required()
        ->check(CLI::IsMember({"svd", "fwsvd"}));
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
                    "Labelled training file (TSV/JSONL) to compute the Fisher information from");
    sub->add_option("--examples", a->examples,
                    "With --data: a seeded random sample of this many examples (0: all, as the "
                    "paper)")
        ->capture_default_str();
    sub->add_option("--seed", a->seed, "With --data: sampling seed")->capture_default_str();
    sub->add_option("--fisher", a->fisher_file,
                    "Fisher information file (safetensors from `fwsvd fisher`) of this model");
    sub->add_flag("--force", a->force,
                  "Use a --fisher file even if it was computed for a different model checksum");
    sub->add_option("--layers", a->layers,
                    "Only factor layers whose prefix matches this regular expression (ECMAScript, "
                    "searched), e.g. 'intermediate|output\\.dense'");
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
