// fwsvd run: classify texts, text pairs or a data file; one JSON line per input.
#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "tools/cli_common.h"

namespace fwsvd::cli {
namespace {

struct RunArgs {
    std::string model_dir;
    std::vector<std::string> texts;
    std::vector<std::string> pairs;  // flattened A B A B ...
    std::string input;
    DataFlags data;
    RunFlags run;
};

void run_command(const RunArgs& a) {
    a.run.apply();
    FWSVD_CHECK(!a.texts.empty() || !a.pairs.empty() || !a.input.empty(),
                "nothing to classify: give --text, --pair or --input");
    LoadedModel m = load_model_and_tokenizer(a.model_dir);
    const ModelConfig& c = m.model->config();

    Dataset ds;
    ds.source = "command line";
    int64_t line = 0;
    for (const auto& t : a.texts) {
        Example ex;
        ex.text_a = t;
        ex.line = ++line;
        ds.examples.push_back(ex);
    }
    for (size_t i = 0; i + 1 < a.pairs.size(); i += 2) {
        Example ex;
        ex.text_a = a.pairs[i];
        ex.text_b = a.pairs[i + 1];
        ex.has_pair = true;
        ex.line = ++line;
        ds.examples.push_back(ex);
    }
    for (auto& ex : ds.examples) {
        check_utf8(ex.text_a, "--text");
        check_utf8(ex.text_b, "--pair");
        FWSVD_CHECK(ex.text_a.find_first_not_of(" \t\r\n") != std::string::npos,
                    "empty text given on the command line");
        FWSVD_CHECK(!ex.has_pair || ex.text_b.find_first_not_of(" \t\r\n") != std::string::npos,
                    "empty text given on the command line");
    }
    std::vector<EncodedData> parts;
    if (!ds.examples.empty()) {
        parts.push_back(m.encode(ds, a.data.max_len_for(c), false));
    }
    if (!a.input.empty()) {
        Dataset file = read_dataset(a.input, a.data.options(false));
        parts.push_back(m.encode(file, a.data.max_len_for(c), false));
    }
    Session session(m.model, a.run.packed());
    report_precision(session.packed());
    for (const auto& part : parts) {
        std::vector<float> logits = predict_logits(session, part, a.run.batch_size, nullptr);
        const int64_t C = c.num_labels();
        for (size_t i = 0; i < part.encodings.size(); ++i) {
            Prediction p = make_prediction(c, logits.data() + i * size_t(C));
            nlohmann::ordered_json j;
            if (c.is_regression()) {
                j["score"] = p.score;
            } else {
                j["label"] = label_name(c, p.label_id);
                j["label_id"] = p.label_id;
                j["probabilities"] = p.probabilities;
            }
            j["logits"] = p.logits;
            std::cout << j.dump() << "\n";
        }
    }
    std::cout.flush();
    if (!std::cout.good()) throw Error("cannot write to standard output", ErrorKind::io);
}

}  // namespace

void setup_run(CLI::App* app) {
    auto a = std::make_shared<RunArgs>();
    app->add_option("MODEL_DIR", a->model_dir,
                    "Model folder (config.json, model.safetensors, "
                    "vocab.txt)")
        ->required();
    app->add_option("--text", a->texts, "A text to classify (repeatable)");
    app->add_option("--pair", a->pairs, "A text pair to classify: --pair A B (repeatable)")
        ->expected(2)
        ->allow_extra_args(false);
    app->add_option("--input", a->input,
                    "A TSV (GLUE header) or JSONL file of inputs; '-' reads standard input");
    a->data.add_to(app);
    a->run.add_to(app);
    app->callback([a] {
        int code = guarded([&] { run_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
