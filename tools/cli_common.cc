#include "tools/cli_common.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <new>

#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd::cli {

int exit_code(ErrorKind kind) {
    return int(kind);
}

int guarded(const std::function<void()>& body) {
    try {
        body();
        return 0;
    } catch (const Error& e) {
        std::cerr << "fwsvd: error: " << e.what() << "\n";
        return exit_code(e.kind());
    } catch (const std::bad_alloc&) {
        std::cerr << "fwsvd: error: out of memory\n";
        return exit_code(ErrorKind::io);
    } catch (const std::filesystem::filesystem_error& e) {
        // The system refused (permission, I/O): what() names the path(s).
        std::cerr << "fwsvd: error: " << e.what() << "\n";
        return exit_code(ErrorKind::io);
    } catch (const std::exception& e) {
        std::cerr << "fwsvd: internal error: " << e.what() << "\n";
        return exit_code(ErrorKind::internal);
    }
}

void set_error_format(CLI::App* app) {
    app->failure_message([](const CLI::App*, const CLI::Error& e) {
        return std::string("fwsvd: error: ") + e.what() +
               "\nRun with --help for more information.\n";
    });
}

void DataFlags::add_to(CLI::App* app) {
    app->add_option("--text-cols", text_cols,
                    "Text column(s) of a TSV, 'a' or 'a,b' (default: found from the GLUE header)");
    app->add_option("--label-col", label_col,
                    "Label column (default: label, score, Quality or gold_label)");
    max_len_option = app->add_option("--max-len", max_len,
                                     "Maximum tokens per example including [CLS]/[SEP]; longer "
                                     "inputs are truncated longest-first (at most the model's "
                                     "max_position_embeddings, the default when below 128)")
                         ->capture_default_str()
                         ->check(CLI::Range(int64_t(3), int64_t(1) << 20));
}

int64_t DataFlags::max_len_for(const ModelConfig& config) const {
    if (max_len_option && max_len_option->count() > 0) return max_len;
    return std::min(max_len, config.max_sequence_length());
}

DataOptions DataFlags::options(bool require_label) const {
    DataOptions o;
    if (!text_cols.empty()) {
        size_t comma = text_cols.find(',');
        o.text_cols.push_back(text_cols.substr(0, comma));
        if (comma != std::string::npos) o.text_cols.push_back(text_cols.substr(comma + 1));
    }
    o.label_col = label_col;
    o.require_label = require_label;
    return o;
}

void add_precision_option(CLI::App* app, std::string* precision) {
    app->add_option("--precision", *precision,
                    "Type the encoder's linear layers multiply in: f32 (exact), bf16 (about 2x "
                    "faster GEMMs on CPUs with AVX512_BF16) or int8 (weights quantised per "
                    "output channel, activations per row; 7-bit weights on CPUs without VNNI); "
                    "check the task score")
        ->capture_default_str()
        ->check(CLI::IsMember({"f32", "bf16", "int8"}));
}

void Int8Flags::add_to(CLI::App* app) {
    options.push_back(app->add_option(
        "--int8-skip", skip,
        "With --precision int8: encoder linear layers whose name (e.g. "
        "bert.encoder.layer.3.output.dense) this regular expression matches stay f32"));
    options.push_back(
        app->add_option("--int8-activations", activations,
                        "With --precision int8: one activation scale per row or per tensor")
            ->capture_default_str()
            ->check(CLI::IsMember({"row", "tensor"})));
    options.push_back(app->add_option("--int8-middle", middle,
                                      "With --precision int8: factored layers' second factor in "
                                      "int8 (re-quantising the rank-r middle) or f32")
                          ->capture_default_str()
                          ->check(CLI::IsMember({"int8", "f32"})));
    options.push_back(app->add_option("--int8-reduce", reduce,
                                      "With --precision int8 on CPUs without VNNI: which codes "
                                      "get 7 bits so that the 16-bit pair sums cannot saturate")
                          ->capture_default_str()
                          ->check(CLI::IsMember({"weights", "activations"})));
}

PackedOptions packed_options(const std::string& precision, const Int8Flags* int8) {
    PackedOptions o;
    if (!kernels::parse_precision(precision, &o.precision)) {
        throw Error(str_cat("--precision: unknown type '", precision, "' (f32, bf16 or int8)"),
                    ErrorKind::usage);
    }
    if (!int8) return o;
    if (o.precision != kernels::MatmulPrecision::int8) {
        for (const CLI::Option* opt : int8->options) {
            if (opt->count() > 0) {
                throw Error(str_cat(opt->get_name(), " applies to --precision int8 only"),
                            ErrorKind::usage);
            }
        }
        return o;
    }
    o.int8.skip = int8->skip;
    o.int8.per_tensor = int8->activations == "tensor";
    o.int8.middle_f32 = int8->middle == "f32";
    o.int8.reduce_activations = int8->reduce == "activations";
    return o;
}

void report_precision(const PackedModel& packed) {
    if (!packed.precision_note().empty()) {
        std::cerr << "fwsvd: note: " << packed.precision_note() << "\n";
    }
}

void RunFlags::add_to(CLI::App* app) {
    add_precision_option(app, &precision);
    int8.add_to(app);
    app->add_option("--threads", threads, "Threads (default: all cores, or OMP_NUM_THREADS)")
        ->check(CLI::Range(0, 1024));
    app->add_option("--batch-size", batch_size, "Sequences per forward batch")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
}

void RunFlags::apply() const {
    set_num_threads(threads);
}

LoadedModel load_model_and_tokenizer(const std::string& dir, const ModelLoadOptions& options) {
    LoadedModel m;
    m.dir = dir;
    m.model = Model::load(dir, options);
    m.tokenizer = load_model_tokenizer(dir, m.model->config());
    return m;
}

EncodedData LoadedModel::encode(const Dataset& data, int64_t max_len, bool need_labels,
                                const ModelConfig* config) const {
    return encode_dataset(data, tokenizer.get(), config ? *config : model->config(), max_len,
                          need_labels, dir);
}

void check_output_file(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (fs::is_directory(st)) {
        throw Error(str_cat(path, ": is a folder, expected an output file name"), ErrorKind::usage);
    }
    // Outputs are renamed into place: that would replace a device or FIFO node (or the link to
    // one, e.g. /dev/stdout) rather than write into it.
    if (fs::exists(st) && !fs::is_regular_file(st)) {
        throw Error(str_cat(path, ": exists and is not a regular file"), ErrorKind::usage);
    }
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
        throw Error(str_cat(path, ": the output's folder ", parent.string(), " does not exist"),
                    ErrorKind::usage);
    }
}

std::string label_name(const ModelConfig& config, int64_t k) {
    if (k >= 0 && k < int64_t(config.id2label.size())) return config.id2label[size_t(k)];
    return std::to_string(k);
}

}  // namespace fwsvd::cli
