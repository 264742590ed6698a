#include "tools/cli_common.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <new>

#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd::cli {

int exit_code(ErrorKind kind) {
    return int(kind);
}

namespace {

// "fwsvd: error: MESSAGE", with the rank when the job has several processes; a failing rank ends
// them all (they may be blocked in a collective that waits for it).
int fail(const char* what, const std::string& message, ErrorKind kind) {
    Comm& comm = world_comm();
    if (!comm.distributed()) {
        std::cerr << "fwsvd: " << what << ": " << message << "\n";
        return exit_code(kind);
    }
    std::cerr << "fwsvd: " << what << ": " << comm.where() << ": " << message << std::endl;
    comm.abort(exit_code(kind));
    return exit_code(kind);  // not reached: abort ends the process
}

}  // namespace

int guarded(const std::function<void()>& body) {
    try {
        body();
        return 0;
    } catch (const Error& e) {
        return fail("error", e.what(), e.kind());
    } catch (const std::bad_alloc&) {
        return fail("error", "out of memory", ErrorKind::io);
    } catch (const std::filesystem::filesystem_error& e) {
        // The system refused (permission, I/O): what() names the path(s).
        return fail("error", e.what(), ErrorKind::io);
    } catch (const std::exception& e) {
        return fail("internal error", e.what(), ErrorKind::internal);
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

Dataset read_examples(const std::string& path, const DataOptions& options,
                      const std::vector<int64_t>& indices) {
    DataOptions o = options;
    // Indices ascend: a cursor into them decides each example in one step.
    size_t next = 0;
    o.keep = [&](int64_t index) {
        while (next < indices.size() && indices[next] < index) ++next;
        return next < indices.size() && indices[next] == index;
    };
    Dataset ds = read_dataset(path, o);
    FWSVD_CHECK(ds.examples.size() == indices.size(), path, ": has ", ds.total,
                " examples, fewer than the ", indices.back() + 1, " expected");
    return ds;
}

int64_t count_examples_on_all_ranks(Comm& comm, const std::string& path,
                                    const DataOptions& options) {
    if (path == "-") {
        throw Error(
            "--data -: standard input reaches one rank only; give a file every rank can read",
            ErrorKind::usage);
    }
    const int64_t n = count_examples(path, options);
    check_same_on_all_ranks(comm, n, str_cat("the number of examples in ", path));
    return n;
}

std::vector<float> gather_rows(Comm& comm, const std::vector<float>& rows) {
    std::vector<std::string> parts = comm.gather(
        std::string_view(reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(float)),
        0);
    std::vector<float> all;
    for (const std::string& p : parts) {
        const size_t k = p.size() / sizeof(float);
        if (k == 0) continue;  // memcpy may not take the null data() of an empty vector
        all.resize(all.size() + k);
        std::memcpy(all.data() + all.size() - k, p.data(), k * sizeof(float));
    }
    return all;
}

EncodedData gather_labels(Comm& comm, const EncodedData& local) {
    // One record per rank: examples, truncated, pairs, classes [examples], values [examples].
    std::string rec;
    auto put = [&](const void* p, size_t bytes) {
        if (bytes > 0) rec.append(static_cast<const char*>(p), bytes);
    };
    const int64_t head[3] = {int64_t(local.encodings.size()), local.truncated,
                             int64_t(local.pairs)};
    put(head, sizeof head);
    const int64_t nc = int64_t(local.targets.classes.size());
    const int64_t nv = int64_t(local.targets.values.size());
    put(&nc, sizeof nc);
    put(local.targets.classes.data(), size_t(nc) * sizeof(int32_t));
    put(&nv, sizeof nv);
    put(local.targets.values.data(), size_t(nv) * sizeof(float));
    EncodedData all;
    all.source = local.source;
    all.has_labels = true;
    for (const std::string& p : comm.gather(rec, 0)) {
        size_t at = 0;
        auto get = [&](void* dst, size_t bytes) {
            FWSVD_CHECK(at + bytes <= p.size(), "internal: a short label record from a rank");
            if (bytes > 0) std::memcpy(dst, p.data() + at, bytes);
            at += bytes;
        };
        int64_t h[3], c = 0, v = 0;
        get(h, sizeof h);
        all.encodings.resize(all.encodings.size() + size_t(h[0]));
        all.truncated += h[1];
        all.pairs = all.pairs || h[2] != 0;
        get(&c, sizeof c);
        const size_t c0 = all.targets.classes.size();
        all.targets.classes.resize(c0 + size_t(c));
        get(all.targets.classes.data() + c0, size_t(c) * sizeof(int32_t));
        get(&v, sizeof v);
        const size_t v0 = all.targets.values.size();
        all.targets.values.resize(v0 + size_t(v));
        get(all.targets.values.data() + v0, size_t(v) * sizeof(float));
    }
    return all;
}

std::string label_name(const ModelConfig& config, int64_t k) {
    if (k >= 0 && k < int64_t(config.id2label.size())) return config.id2label[size_t(k)];
    return std::to_string(k);
}

}  // namespace fwsvd::cli
