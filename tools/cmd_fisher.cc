// fwsvd fisher: the empirical Fisher information of a model on labelled training data.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "compressor/fisher.h"
#include "runtime/atomic_file.h"
#include "runtime/parallel.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace fwsvd::cli {
namespace {

struct FisherArgs {
    std::string model_dir;
    std::string data_file;
    std::string out;
    int64_t examples = 0;
    uint64_t seed = 0;
    bool all = false;
    bool json = false;
    int64_t fisher_batch = 16;
    DataFlags data;
    int threads = 0;
};

void fisher_command(const FisherArgs& a) {
    set_num_threads(a.threads);
    check_output_distinct(a.out, {a.model_dir, a.data_file});
    LoadedModel m = load_model_and_tokenizer(a.model_dir);
    Dataset ds = read_dataset(a.data_file, a.data.options(true));
    // Tokenize only the sample, in the order compute_fisher would take it from the whole file.
    Dataset sample = ds;
    sample.examples.clear();
    for (size_t i : fisher_sample(ds.examples.size(), a.examples, a.seed)) {
        sample.examples.push_back(ds.examples[i]);
    }
    EncodedData data =
        encode_dataset(sample, *m.tokenizer, m.model->config(), a.data.max_len, true);
    FisherOptions fo;
    fo.seed = a.seed;
    fo.all_params = a.all;
    fo.batch_size = a.fisher_batch;
    FisherResult f;
    {
        Progress progress("fisher", int64_t(data.encodings.size()));
        f = compute_fisher(*m.model, data, fo, &progress);
    }
    save_fisher(a.out, f,
                {{"model", a.model_dir},
                 {"data", a.data_file},
                 {"max_len", std::to_string(a.data.max_len)},
                 {"params", a.all ? "all" : "encoder_linear"}});
    const double rate = f.seconds > 0 ? double(f.examples) / f.seconds : 0;
    if (a.json) {
        nlohmann::ordered_json j;
        j["out"] = a.out;
        j["examples"] = f.examples;
        j["tensors"] = f.tensors.size();
        j["seconds"] = f.seconds;
        j["examples_per_second"] = rate;
        j["threads"] = num_threads();
        j["model_checksum"] = f.model_checksum;
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf(
            "wrote %s: Fisher of %zu tensors from %lld examples in %.1f s (%.1f ex/s, %d "
            "threads)\n",
            a.out.c_str(), f.tensors.size(), (long long)f.examples, f.seconds, rate, num_threads());
    }
}

}  // namespace

void setup_fisher(CLI::App* app) {
    auto a = std::make_shared<FisherArgs>();
    CLI::App* sub = app->add_subcommand(
        "fisher", "Empirical Fisher information (mean squared per-example loss gradient)");
    sub->add_option("MODEL_DIR", a->model_dir, "Model folder (with a classifier head)")->required();
    sub->add_option("--data", a->data_file, "Labelled training data (TSV or JSONL)")->required();
    sub->add_option("--out", a->out, "Output safetensors file")->required();
    sub->add_option("--examples", a->examples,
                    "Use a seeded random sample of this many examples (default: all)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--seed", a->seed, "Sampling seed")->capture_default_str();
    sub->add_flag("--all", a->all,
                  "Fisher of every parameter (default: the encoder's linear weights, what the "
                  "compressor factorizes)");
    sub->add_option("--fisher-batch", a->fisher_batch, "Examples per batched backward pass")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(4096)));
    sub->add_flag("--json", a->json, "Print a JSON summary");
    sub->add_option("--threads", a->threads, "Threads (default: all cores)")
        ->check(CLI::Range(0, 1024));
    a->data.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { fisher_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
