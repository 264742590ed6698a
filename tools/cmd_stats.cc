// fwsvd stats: the statistics compression methods read (compressor/stats.h) of a model on
// calibration data: the empirical Fisher, and each linear layer's input mean |x| and E[x xᵀ].
// fwsvd fisher is the same command with the Fisher only (the file it has always written).
#include <algorithm>
#include <cstdio>
#include <map>
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
    std::string sums;  // --fisher-sums: "", f32 or f64
    DataFlags data;
    int threads = 0;
};

// The sample of the data file (stats_sample's order) that this rank takes: all of it in one
// process; with several, whole batches of it (block_shard), read without the rest of the file.
Dataset read_sample(const StatsArgs& a, const DataOptions& options, const Model& model,
                    const StatsOptions& so, Comm& comm) {
    if (!comm.distributed()) {
        Dataset ds = read_dataset(a.data_file, options);
        // Tokenize only the sample, in the order compute_stats would take it from the whole file.
        Dataset sample = ds;
        sample.examples.clear();
        for (size_t i : stats_sample(ds.examples.size(), a.examples, a.seed)) {
            sample.examples.push_back(ds.examples[i]);
        }
        return sample;
    }
    const int64_t n = count_examples_on_all_ranks(comm, a.data_file, options);
    const std::vector<size_t> order = stats_sample(size_t(n), a.examples, a.seed);
    const auto [begin, end] =
        block_shard(int64_t(order.size()), stats_batch_size(model, so), comm.rank(), comm.size());
    std::vector<int64_t> indices(order.begin() + begin, order.begin() + end);
    std::sort(indices.begin(), indices.end());
    Dataset ds = read_examples(a.data_file, options, indices);
    // ds holds them in file order; the sample takes them in `order`.
    Dataset sample = ds;
    sample.examples.clear();
    for (int64_t i = begin; i < end; ++i) {
        const auto it = std::lower_bound(indices.begin(), indices.end(), int64_t(order[size_t(i)]));
        sample.examples.push_back(ds.examples[size_t(it - indices.begin())]);
    }
    return sample;
}

void stats_command(const StatsArgs& a) {
    set_num_threads(a.threads);
    Comm& comm = world_comm();
    const unsigned kinds = parse_stat_kinds(a.kinds);
    if (a.sums == "f32" && comm.distributed()) {
        throw Error(
            "--fisher-sums f32: float32 running sums are one process's; several add "
            "float64 sums (f64)",
            ErrorKind::usage);
    }
    check_output_distinct(a.out, {a.model_dir, a.data_file});
    LoadedModel m = load_model_and_tokenizer(a.model_dir);
    const bool labels = (kinds & kStatFisher) != 0;
    StatsOptions so;
    so.kinds = kinds;
    so.seed = a.seed;
    so.all_params = a.all;
    so.batch_size = a.batch;
    so.fisher_f64 = a.sums == "f64" || comm.distributed();
    Dataset sample = read_sample(a, a.data.options(labels), *m.model, so, comm);
    EncodedData data = m.encode(sample, a.data.max_len, labels);
    Stats s;
    {
        Progress progress("stats", int64_t(data.encodings.size()));
        s = compute_stats(*m.model, data, so, &progress, &comm);
    }
    if (comm.rank() != 0) return;
    std::map<std::string, std::string> meta = {{"model", a.model_dir},
                                               {"data", a.data_file},
                                               {"max_len", std::to_string(a.data.max_len)},
                                               {"params", a.all ? "all" : "encoder_linear"}};
    if (so.fisher_f64 && labels) meta["fisher_sums"] = "f64";
    if (comm.distributed()) meta["ranks"] = std::to_string(comm.size());
    save_stats(a.out, s, meta);
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
        if (comm.distributed()) j["ranks"] = comm.size();
        j["model_checksum"] = s.model_checksum;
        std::printf("%s\n", j.dump().c_str());
    } else {
        const std::string ranks =
            comm.distributed() ? str_cat(" x ", comm.size(), " ranks") : std::string();
        std::printf(
            "wrote %s: %s, %zu tensors from %lld examples in %.1f s (%.1f ex/s, %d threads%s)\n",
            a.out.c_str(), stat_kinds_str(s.kinds()).c_str(), tensors, (long long)s.examples,
            s.seconds, rate, num_threads(), ranks.c_str());
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
    sub->add_option("--fisher-sums", a->sums,
                    "Fisher sums: f32 (float32 running sums: the default in one process) or f64 "
                    "(each batch's sums added in float64: always under mpirun with several ranks, "
                    "whose result this reproduces in one process)")
        ->check(CLI::IsMember({"f32", "f64"}));
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
