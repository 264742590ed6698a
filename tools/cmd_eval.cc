// fwsvd eval: the task metric of a model on a labelled data file.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/dist.h"
#include "runtime/error.h"
#include "runtime/safetensors.h"
#include "tools/cli_common.h"

namespace fwsvd::cli {
namespace {

std::filesystem::path fs_join(const std::string& dir, const std::string& name) {
    return std::filesystem::path(dir) / name;
}

struct EvalArgs {
    std::string model_dir;
    std::string data_file;
    bool json = false;
    std::string dump_logits;
    std::string metric;
    DataFlags data;
    RunFlags run;
};

void eval_command(const EvalArgs& a) {
    a.run.apply();
    if (!a.dump_logits.empty()) {
        // The model folder's own files too: "--dump-logits MODEL/model.safetensors" would
        // replace the weights being evaluated.
        std::vector<std::filesystem::path> inputs = {a.model_dir, a.data_file,
                                                     fs_join(a.model_dir, "config.json"),
                                                     fs_join(a.model_dir, "model.safetensors")};
        for (const auto& name : tokenizer_file_names()) {
            inputs.push_back(fs_join(a.model_dir, name));
        }
        check_output_distinct(a.dump_logits, inputs);
        check_output_file(a.dump_logits);
    }
    LoadedModel m = load_model_and_tokenizer(a.model_dir);
    const ModelConfig& c = m.model->config();
    Comm& comm = world_comm();
    Dataset ds;
    if (comm.distributed()) {
        // Each rank reads, encodes and runs a consecutive part of the file; rank 0 scores the
        // gathered logits.
        const int64_t n = count_examples_on_all_ranks(comm, a.data_file, a.data.options(true));
        const auto [begin, end] = block_shard(n, 1, comm.rank(), comm.size());
        std::vector<int64_t> indices(size_t(end - begin));
        for (int64_t i = begin; i < end; ++i) indices[size_t(i - begin)] = i;
        ds = read_examples(a.data_file, a.data.options(true), indices);
    } else {
        ds = read_dataset(a.data_file, a.data.options(true));
    }
    const int64_t max_len = a.data.max_len_for(c);
    EncodedData data = m.encode(ds, max_len, true);

    Session session(m.model, a.run.packed());
    report_precision(session.packed());
    std::vector<float> logits;
    double seconds = 0;
    {
        Progress progress("eval", int64_t(data.encodings.size()));
        logits = predict_logits(session, data, a.run.batch_size, &progress);
        if (comm.distributed()) {
            logits = gather_rows(comm, logits);
            data = gather_labels(comm, data);
        }
        seconds = progress.elapsed_s();
    }
    if (comm.rank() != 0) return;
    const std::string metric = primary_metric(c, data, a.metric);
    EvalResult r = evaluate(c, data, logits.data(), metric);

    if (!a.dump_logits.empty()) {
        SafetensorsWriter w;
        w.add_f32("logits", {int64_t(data.encodings.size()), c.num_labels()}, logits.data());
        w.set_metadata("model", a.model_dir);
        w.set_metadata("data", a.data_file);
        w.write(a.dump_logits);
    }
    if (a.json) {
        nlohmann::ordered_json j;
        j["metric"] = r.metric;
        j["value"] = r.value;
        j["examples"] = r.examples;
        j["metrics"] = r.metrics;
        j["truncated"] = data.truncated;
        j["seconds"] = seconds;
        j["model"] = a.model_dir;
        j["data"] = a.data_file;
        // File names need not be UTF-8: invalid bytes become U+FFFD instead of an exception.
        std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                  << std::endl;
    } else {
        std::printf("%s on %s: %s %.4f (%lld examples, %.2f s)\n", a.model_dir.c_str(),
                    a.data_file.c_str(), r.metric.c_str(), r.value, (long long)r.examples, seconds);
        for (const auto& [k, v] : r.metrics) std::printf("  %-10s %.4f\n", k.c_str(), v);
        if (data.truncated > 0) {
            std::printf("  %lld examples were truncated to %lld tokens\n",
                        (long long)data.truncated, (long long)max_len);
        }
    }
}

}  // namespace

void setup_eval(CLI::App* app) {
    auto a = std::make_shared<EvalArgs>();
    CLI::App* sub = app->add_subcommand("eval", "Task metric of a model on a labelled data file");
    sub->add_option("MODEL_DIR", a->model_dir, "Model folder")->required();
    sub->add_option("--data", a->data_file, "Labelled TSV (GLUE header) or JSONL file")->required();
    sub->add_flag("--json", a->json, "Print one JSON object instead of text");
    sub->add_option("--dump-logits", a->dump_logits,
                    "Write the logits [N, num_labels] in file order to this safetensors file");
    sub->add_option("--metric", a->metric,
                    "Primary metric: accuracy, f1, mcc, pearson, spearman (default: from the "
                    "task: pearson for regression, f1 for binary pairs, mcc for CoLA, else "
                    "accuracy)");
    a->data.add_to(sub);
    a->run.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { eval_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
