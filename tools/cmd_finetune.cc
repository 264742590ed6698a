// fwsvd finetune: train a classifier (dense or factored) with AdamW and write an HF checkpoint.
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "kernels/splitmix.h"
#include "runtime/atomic_file.h"
#include "runtime/parallel.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"
#include "training/finetune.h"

namespace fwsvd::cli {
namespace {

struct FinetuneArgs {
    std::string model_dir;
    std::string train_file;
    std::string dev_file;
    std::string out;
    std::string teacher_dir;  // empty: plain fine-tuning
    int64_t num_labels = 0;
    bool json = false;
    std::string metric;  // dev metric (empty: primary_metric's choice)
    FinetuneOptions opt;
    DataFlags data;
    int threads = 0;
};

// Examples [begin, end) of data.
EncodedData slice(const EncodedData& data, int64_t begin, int64_t end) {
    EncodedData s;
    s.source = data.source;
    s.has_labels = data.has_labels;
    s.pairs = data.pairs;
    s.encodings.assign(data.encodings.begin() + begin, data.encodings.begin() + end);
    s.lines.assign(data.lines.begin() + begin, data.lines.begin() + end);
    auto part = [&](const auto& v) {
        return v.empty() ? std::decay_t<decltype(v)>()
                         : std::decay_t<decltype(v)>(v.begin() + begin, v.begin() + end);
    };
    s.targets.classes = part(data.targets.classes);
    s.targets.values = part(data.targets.values);
    return s;
}

// A hash of the examples' ids and targets: every rank must train on the same data.
uint64_t data_hash(const EncodedData& d) {
    uint64_t h = d.encodings.size();
    for (const auto& e : d.encodings) {
        for (int32_t id : e.ids) h = kernels::splitmix64_derive(h, uint64_t(uint32_t(id)));
        for (int32_t t : e.type_ids) h = kernels::splitmix64_derive(h, uint64_t(uint32_t(t)));
    }
    for (int32_t c : d.targets.classes) h = kernels::splitmix64_derive(h, uint64_t(uint32_t(c)));
    for (float v : d.targets.values) {
        uint32_t bits = 0;
        std::memcpy(&bits, &v, sizeof bits);
        h = kernels::splitmix64_derive(h, bits);
    }
    return h;
}

// Every rank reads the whole file (each step's batch is drawn from all of it); they must agree.
EncodedData read_on_every_rank(Comm& comm, const LoadedModel& m, const std::string& path,
                               const FinetuneArgs& a, const ModelConfig& config) {
    if (comm.distributed()) count_examples_on_all_ranks(comm, path, a.data.options(true));
    Dataset ds = read_dataset(path, a.data.options(true));
    EncodedData data = m.encode(ds, a.data.max_len, true, &config);
    if (comm.distributed()) {
        check_same_on_all_ranks(comm, int64_t(data_hash(data)),
                                str_cat("the encoded examples of ", path, " (their hash)"));
    }
    return data;
}

void finetune_command(FinetuneArgs& a) {
    set_num_threads(a.threads);
    Comm& comm = world_comm();
    check_output_distinct(a.out, {a.model_dir, a.train_file, a.dev_file, a.teacher_dir});
    ModelLoadOptions lo;
    lo.require_classifier = false;
    LoadedModel m = load_model_and_tokenizer(a.model_dir, lo);
    TrainableModel tm = make_trainable(*m.model, a.num_labels, a.opt.seed);
    if (!a.teacher_dir.empty()) {
        a.opt.distill.teacher = Model::load(a.teacher_dir);
        check_distill(a.opt.distill, tm.config);
    }
    EncodedData train = read_on_every_rank(comm, m, a.train_file, a, tm.config);
    std::unique_ptr<EncodedData> dev;
    if (!a.dev_file.empty()) {
        dev = std::make_unique<EncodedData>(read_on_every_rank(comm, m, a.dev_file, a, tm.config));
    }
    const bool root = comm.rank() == 0;

    std::unique_ptr<Progress> bar;
    double loss_avg = 0;
    int64_t seen = 0;
    FinetuneCallbacks cb;
    cb.epoch_begin = [&](int64_t epoch, int64_t steps) {
        bar = std::make_unique<Progress>("epoch " + std::to_string(epoch), steps, "step");
        loss_avg = 0;
        seen = 0;
    };
    cb.step_end = [&](double loss, double lr) {
        ++seen;
        loss_avg += (loss - loss_avg) / double(std::min<int64_t>(seen, 50));
        char note[64];
        std::snprintf(note, sizeof note, "loss %.4f lr %.2e", loss_avg, lr);
        bar->set_note(note);
        bar->add(1);
    };
    cb.epoch_end = [&](const EpochReport& r) {
        bar->finish();
        if (!a.json && root) {
            std::printf("epoch %lld: train loss %.4f (first steps %.4f, last steps %.4f)",
                        (long long)r.epoch, r.train_loss, r.first_loss, r.last_loss);
            if (dev)
                std::printf(", dev %s %.4f", primary_metric(tm.config, *dev, a.metric).c_str(),
                            r.dev_value);
            std::printf(" (%.1f s)\n", r.seconds);
            std::fflush(stdout);
        }
    };
    if (dev) {
        // By value: the callback runs after this block has ended.
        cb.evaluate_dev = [&,
                           metric = primary_metric(tm.config, *dev, a.metric)](Session& session) {
            if (!comm.distributed()) {
                std::vector<float> logits = predict_logits(session, *dev, 64, nullptr);
                EvalResult r = evaluate(tm.config, *dev, logits.data(), metric);
                return DevScore{r.value, r.metrics};
            }
            // Each rank scores a consecutive part; rank 0 the gathered logits.
            const auto [begin, end] =
                block_shard(int64_t(dev->encodings.size()), 1, comm.rank(), comm.size());
            std::vector<float> logits =
                gather_rows(comm, predict_logits(session, slice(*dev, begin, end), 64, nullptr));
            if (!root) return DevScore{};
            EvalResult r = evaluate(tm.config, *dev, logits.data(), metric);
            return DevScore{r.value, r.metrics};
        };
    }
    std::vector<EpochReport> reports = finetune(tm, train, a.opt, cb, &comm);
    if (!root) return;

    nlohmann::ordered_json j;
    j["source_model"] = a.model_dir;
    j["train"] = a.train_file;
    j["dev"] = a.dev_file;
    j["examples"] = train.encodings.size();
    j["epochs"] = a.opt.epochs;
    j["lr"] = a.opt.lr;
    j["batch"] = a.opt.batch;
    j["warmup_ratio"] = a.opt.warmup_ratio;
    j["weight_decay"] = a.opt.weight_decay;
    j["seed"] = a.opt.seed;
    if (a.opt.distill.teacher) {
        j["teacher"] = a.teacher_dir;
        j["kd_alpha"] = a.opt.distill.alpha;
        j["temperature"] = a.opt.distill.temperature;
        j["kd_hidden"] = a.opt.distill.hidden_weight;
    }
    j["max_len"] = a.data.max_len;
    j["threads"] = num_threads();
    if (comm.distributed()) j["ranks"] = comm.size();
    if (dev) j["dev_metric"] = primary_metric(tm.config, *dev, a.metric);
    nlohmann::ordered_json eps = nlohmann::ordered_json::array();
    for (const auto& r : reports) {
        eps.push_back({{"epoch", r.epoch},
                       {"steps", r.steps},
                       {"train_loss", r.train_loss},
                       {"first_loss", r.first_loss},
                       {"last_loss", r.last_loss},
                       {"dev_score", r.dev_value},
                       {"dev_metrics", r.dev_metrics},
                       {"seconds", r.seconds}});
    }
    j["runs"] = eps;
    if (!reports.empty() && dev) j["dev_score"] = reports.back().dev_value;
    save_checkpoint(a.out, tm.config, tm.layout, tm.flat.data<float>(), a.model_dir, {},
                    {{"finetune.json", j.dump(1) + "\n"}});
    if (a.json) {
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("wrote %s\n", a.out.c_str());
    }
}

}  // namespace

void setup_finetune(CLI::App* app) {
    auto a = std::make_shared<FinetuneArgs>();
    CLI::App* sub = app->add_subcommand(
        "finetune", "Fine-tune a classifier (dense or factored) and write an HF checkpoint");
    sub->add_option("MODEL_DIR", a->model_dir,
                    "Model folder: a classifier, or a pretrained-only BERT with --num-labels")
        ->required();
    sub->add_option("--data", a->train_file, "Labelled training data (TSV or JSONL)")->required();
    sub->add_option("--dev", a->dev_file, "Labelled dev data, evaluated after each epoch");
    sub->add_option("--out", a->out, "Output model folder (written atomically)")->required();
    sub->add_option("--epochs", a->opt.epochs, "Epochs")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1000)));
    sub->add_option("--lr", a->opt.lr, "Peak learning rate")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--batch", a->opt.batch, "Examples per optimizer step")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(65536)));
    sub->add_option("--warmup-ratio", a->opt.warmup_ratio, "Fraction of steps of linear warm-up")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--weight-decay", a->opt.weight_decay,
                    "AdamW weight decay (not on biases and LayerNorm)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--max-grad-norm", a->opt.max_grad_norm, "Gradient clipping norm (0: off)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--max-steps", a->opt.max_steps, "Stop after this many steps (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--seed", a->opt.seed, "Seed of shuffling, dropout and a fresh head")
        ->capture_default_str();
    sub->add_option("--num-labels", a->num_labels,
                    "Give the model a fresh classification head with N labels (1: regression); "
                    "needed for a pretrained-only checkpoint")
        ->check(CLI::Range(int64_t(1), int64_t(100000)));
    sub->add_option("--metric", a->metric, "Dev metric (default: the task's, as eval)");
    CLI::Option* teacher =
        sub->add_option("--teacher", a->teacher_dir,
                        "Distil this model (say the dense task model) into MODEL_DIR: the loss "
                        "is kd-alpha * KD + (1 - kd-alpha) * task loss (README.md, Distillation)");
    sub->add_option("--kd-alpha", a->opt.distill.alpha,
                    "Weight of the distillation term: T^2 KL(softmax(teacher/T) || "
                    "softmax(student/T)), or the squared difference of the outputs for "
                    "regression")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0))
        ->needs(teacher);
    sub->add_option("--temperature", a->opt.distill.temperature,
                    "Distillation temperature T (softens both models' logits)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber)
        ->needs(teacher);
    sub->add_option("--kd-hidden", a->opt.distill.hidden_weight,
                    "Weight of the mean squared difference of the final hidden states, student "
                    "vs teacher (needs equal hidden sizes)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber)
        ->needs(teacher);
    sub->add_flag("--json", a->json, "Print the training report as JSON");
    sub->add_option("--threads", a->threads, "Threads (default: all cores)")
        ->check(CLI::Range(0, 1024));
    a->data.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { finetune_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
