// fwsvd stats: the statistics compression methods read (compressor/stats.h) of a model on
// calibration data: the empirical Fisher, and each linear layer's input mean |x| and E[x xᵀ].
// fwsvd fisher is the same command with the Fisher only (the file it has always written).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "compressor/stats.h"
#include "runtime/atomic_file.h"
#include "runtime/parallel.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace fwsvd::cli {
namespace {

struct StatsArgs {
    std::string model_dir;
    std::string data_file;
    std::string out;
    std::string kinds = "fisher";
    int64_t examples = 0;
    uint64_t seed = 0;
    bool all = false;
    bool json = false;
    int64_t batch = 16;
    DataFlags data;
    int threads = 0;
};

void stats_command(const StatsArgs& a) {
    set_num_threads(a.threads);
    const unsigned kinds = parse_stat_kinds(a.kinds);
    check_output_distinct(a.out, {a.model_dir, a.data_file});
    LoadedModel m = load_model_and_tokenizer(a.model_dir);
    const bool labels = (kinds & kStatFisher) != 0;
    Dataset ds = read_dataset(a.data_file, a.data.options(labels));
    // Tokenize only the sample, in the order compute_stats would take it from the whole file.
    Dataset sample = ds;
    sample.examples.clear();
    for (size_t i : stats_sample(ds.examples.size(), a.examples, a.seed)) {
        sample.examples.push_back(ds.examples[i]);
    }
    EncodedData data = m.encode(sample, a.data.max_len, labels);
    StatsOptions so;
    so.kinds = kinds;
    so.seed = a.seed;
    so.all_params = a.all;
    so.batch_size = a.batch;
    Stats s;
    {
        Progress progress("stats", int64_t(data.encodings.size()));
        s = compute_stats(*m.model, data, so, &progress);
    }
    save_stats(a.out, s,
               {{"model", a.model_dir},
                {"data", a.data_file},
                {"max_len", std::to_string(a.data.max_len)},
                {"params", a.all ? "all" : "encoder_linear"}});
    const double rate = s.seconds > 0 ? double(s.examples) / s.seconds : 0;
    const size_t tensors = s.fisher.size() + s.input_abs_mean.size() + s.input_cov.size();
    if (a.json) {
        nlohmann::ordered_json j;
        j["out"] = a.out;
        j["examples"] = s.examples;
        j["statistics"] = stat_kinds_str(s.kinds());
        j["tensors"] = tensors;
        j["seconds"] = s.seconds;
        j["examples_per_second"] = rate;
        j["threads"] = num_threads();
        j["model_checksum"] = s.model_checksum;
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf(
            "wrote %s: %s, %zu tensors from %lld examples in %.1f s (%.1f ex/s, %d threads)\n",
            a.out.c_str(), stat_kinds_str(s.kinds()).c_str(), tensors, (long long)s.examples,
            s.seconds, rate, num_threads());
    }
}

// `fisher` (Fisher only, the historical name) or `stats`.
void setup(CLI::App* app, bool fisher_only) {
    auto a = std::make_shared<StatsArgs>();
    CLI::App* sub =
        fisher_only
            ? app->add_subcommand("fisher",
                                  "Empirical Fisher information (mean squared per-example loss "
                                  "gradient); the same as `stats --stats fisher`")
            : app->add_subcommand("stats",
                                  "Statistics for compression methods: Fisher information, input "
                                  "mean |x| and covariance of every linear layer");
    sub->add_option("MODEL_DIR", a->model_dir,
                    "Model folder (with a classifier head for the Fisher)")
        ->required();
    sub->add_option("--data", a->data_file,
                    "Calibration data (TSV or JSONL; labelled for the Fisher)")
        ->required();
    sub->add_option("--out", a->out, "Output safetensors file")->required();
    if (!fisher_only) {
        sub->add_option("--stats", a->kinds,
                        "Comma-separated: fisher, input-mean (mean |x|), input-cov (E[x x^T])")
            ->capture_default_str();
    }
    sub->add_option("--examples", a->examples,
                    "Use a seeded random sample of this many examples (default: all)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
    sub->add_flag("--all", a->all,
                  "Fisher of every parameter (default: the encoder's linear weights, what the "
                  "compressor factorizes)");
    sub->add_option(fisher_only ? "--fisher-batch" : "--batch", a->batch,
                    "Examples per batched pass")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(4096)));
    sub->add_flag("--json", a->json, "Print a JSON summary");
    sub->add_option("--threads", a->threads, "Threads (default: all cores)")
        ->check(CLI::Range(0, 1024));
    a->data.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { stats_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace

unsigned parse_stat_kinds(const std::string& list) {
    unsigned kinds = 0;
    size_t begin = 0;
    while (begin <= list.size()) {
        const size_t comma = list.find(',', begin);
        const std::string k =
            list.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
        if (k == "fisher") {
            kinds |= kStatFisher;
        } else if (k == "input-mean") {
            kinds |= kStatInputAbsMean;
        } else if (k == "input-cov") {
            kinds |= kStatInputCov;
        } else {
            throw Error(
                str_cat("--stats: unknown statistic '", k, "' (fisher, input-mean, input-cov)"),
                ErrorKind::usage);
        }
        if (comma == std::string::npos) break;
        begin = comma + 1;
    }
    return kinds;
}

void setup_stats(CLI::App* app) {
    setup(app, false);
}

void setup_fisher(CLI::App* app) {
    setup(app, true);
}

}  // namespace fwsvd::cli
