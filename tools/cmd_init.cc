// fwsvd init: a randomly initialised sequence classifier of a model family (HF's init).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "models/family.h"
#include "models/model.h"
#include "runtime/atomic_file.h"
#include "runtime/tokenizer_wordpiece.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"
#include "training/init.h"

namespace fwsvd::cli {
namespace {

struct InitArgs {
    std::string preset = "base";
    std::string vocab;
    std::string tokenizer_dir;
    std::string out;
    bool cased = false;
    bool json = false;
    InitOptions opt;
};

void init_command(InitArgs& a) {
    if (a.vocab.empty() == a.tokenizer_dir.empty()) {
        throw Error("give --vocab FILE (a WordPiece vocabulary) or --tokenizer DIR",
                    ErrorKind::usage);
    }
    check_output_distinct(a.out, {a.vocab.empty() ? a.tokenizer_dir : a.vocab});
    const InitPreset& preset = init_preset(a.preset);
    InitTokenizer it;
    if (!a.vocab.empty()) {
        // Loading the vocabulary as the tokenizer would checks it (UTF-8, [UNK]/[CLS]/[SEP]).
        WordPieceOptions wo;
        wo.do_lower_case = !a.cased;
        WordPieceTokenizer tok(a.vocab, wo);
        a.opt.vocab_size = tok.vocab_size();  // the number of lines: ids are line numbers
        a.opt.pad_token_id = tok.pad_id();
        it.vocab = a.vocab;
        it.do_lower_case = !a.cased;
    } else {
        std::unique_ptr<Tokenizer> tok = load_tokenizer(a.tokenizer_dir, a.opt.family);
        a.opt.vocab_size = tok->vocab_size();
        a.opt.pad_token_id = tok->pad_id();
        it.dir = a.tokenizer_dir;
    }
    const ModelConfig config = init_config(preset, a.opt);
    const TrainableModel model = init_model(config, a.opt.seed);
    save_initialized(a.out, model, it, a.opt.seed);
    int64_t params = 0;
    for (const auto& e : model.layout.entries()) params += e.numel;
    if (a.json) {
        nlohmann::ordered_json j;
        j["out"] = a.out;
        j["family"] = config.model_type;
        j["preset"] = a.preset;
        j["layers"] = config.num_hidden_layers;
        j["hidden"] = config.hidden_size;
        j["heads"] = config.num_attention_heads;
        j["intermediate"] = config.intermediate_size;
        j["max_positions"] = config.max_position_embeddings;
        j["vocab_size"] = config.vocab_size;
        j["num_labels"] = config.num_labels();
        j["seed"] = a.opt.seed;
        j["params"] = params;
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf(
            "wrote %s: %s, %lld layers x %lld hidden, %lld "
            "heads, FFN %lld, vocab %lld, %lld labels, %lld parameters (seed %llu)\n",
            a.out.c_str(), config.architectures.front().c_str(),
            (long long)config.num_hidden_layers, (long long)config.hidden_size,
            (long long)config.num_attention_heads, (long long)config.intermediate_size,
            (long long)config.vocab_size, (long long)config.num_labels(), (long long)params,
            (unsigned long long)a.opt.seed);
    }
}

}  // namespace

void setup_init(CLI::App* app) {
    auto a = std::make_shared<InitArgs>();
    CLI::App* sub = app->add_subcommand(
        "init",
        "A randomly initialised classifier of a model family (Hugging Face's initialisation)");
    std::vector<std::string> types;
    for (const Family* f : families()) types.push_back(f->model_type);
    sub->add_option("--family", a->opt.family, "Model family: " + supported_model_types())
        ->capture_default_str()
        ->check(CLI::IsMember(types));
    sub->add_option("--preset", a->preset,
                    "Architecture: tiny (2x128, 2 heads, FFN 512), mini (4x256, 4, 1024), small "
                    "(4x512, 8, 2048), base (12x768, 12, 3072)")
        ->capture_default_str()
        ->check(CLI::IsMember({"tiny", "mini", "small", "base"}));
    sub->add_option(
        "--vocab", a->vocab,
        "WordPiece vocabulary (vocab.txt, one token a line): bert, distilbert, electra");
    sub->add_option("--tokenizer", a->tokenizer_dir,
                    "A folder holding the tokenizer to copy (tokenizer.json, vocab.json + "
                    "merges.txt, spiece.model, ...): any family");
    sub->add_option("--num-labels", a->opt.num_labels, "Classes (1: regression)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    sub->add_option("--out", a->out, "Output model folder")->required();
    sub->add_option("--seed", a->opt.seed, "Random seed")->capture_default_str();
    sub->add_option("--layers", a->opt.layers, "Override the preset's layer count")
        ->check(CLI::Range(int64_t(1), int64_t(1024)));
    sub->add_option("--hidden", a->opt.hidden, "Override the hidden size")
        ->check(CLI::Range(int64_t(1), int64_t(65536)));
    sub->add_option("--heads", a->opt.heads, "Override the attention heads")
        ->check(CLI::Range(int64_t(1), int64_t(65536)));
    sub->add_option("--intermediate", a->opt.intermediate, "Override the FFN size")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    sub->add_option("--max-positions", a->opt.max_positions, "Position embeddings (default 512)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    sub->add_option("--initializer-range", a->opt.initializer_range,
                    "Standard deviation of the normal weights")
        ->capture_default_str();
    sub->add_flag("--cased", a->cased,
                  "Cased vocabulary: tokenizer_config.json gets do_lower_case false");
    sub->add_flag("--json", a->json, "Print a JSON summary");
    sub->callback([a] {
        int code = guarded([&] { init_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
