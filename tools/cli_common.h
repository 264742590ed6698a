// What the fwsvd commands share: option groups, loading a model with its tokenizer and data,
// and running a command body with errors mapped to exit codes.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/task.h"
#include "models/model.h"
#include "models/packed_model.h"
#include "runtime/dist.h"
#include "runtime/error.h"
#include "runtime/tokenizer.h"

namespace fwsvd::cli {

// Exit codes: 0 success, 1 invalid input, 2 usage, 3 I/O, 4 internal error, 130 interrupted.
int exit_code(ErrorKind kind);
// Runs body, printing "fwsvd: error: MESSAGE" to stderr and returning the exit code on failure.
// A process of several (mpirun) names its rank in the message and ends the whole job with the
// exit code (MPI_Abort): the other ranks may be waiting for it in a collective.
int guarded(const std::function<void()>& body);
// Makes CLI11's parse errors (unknown flag, bad value) print "fwsvd: error: MESSAGE" too.
void set_error_format(CLI::App* app);

struct DataFlags {
    std::string text_cols;  // "a" or "a,b"
    std::string label_col;
    int64_t max_len = 128;
    CLI::Option* max_len_option = nullptr;
    void add_to(CLI::App* app);
    DataOptions options(bool require_label) const;
    // --max-len when given (encode_dataset refuses it beyond the model's positions), else the
    // default 128 capped to the model's max_position_embeddings.
    int64_t max_len_for(const ModelConfig& config) const;
};

// --precision f32|bf16|int8: the type the encoder's linear layers multiply in
// (PackedOptions::precision).
void add_precision_option(CLI::App* app, std::string* precision);

// The int8 options (PackedOptions::Int8): --int8-skip REGEX, --int8-activations row|tensor,
// --int8-middle int8|f32, --int8-reduce weights|activations. Given with another precision than
// int8: a usage error.
struct Int8Flags {
    std::string skip;
    std::string activations = "row";
    std::string middle = "int8";
    std::string reduce = "weights";
    std::vector<CLI::Option*> options;
    void add_to(CLI::App* app);
};
PackedOptions packed_options(const std::string& precision, const Int8Flags* int8 = nullptr);
// Prints to stderr what the packed model did not do as asked (PackedModel::precision_note).
void report_precision(const PackedModel& packed);

struct RunFlags {
    int threads = 0;
    int64_t batch_size = 32;
    std::string precision = "f32";
    Int8Flags int8;
    void add_to(CLI::App* app);
    void apply() const;
    PackedOptions packed() const { return packed_options(precision, &int8); }
};

struct LoadedModel {
    std::string dir;
    std::shared_ptr<const Model> model;
    std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has no tokenizer files
    // The data file's examples encoded for the model (encode_dataset with this tokenizer: a
    // folder without one takes pre-tokenized input_ids only).
    // config: the config to resolve labels against (default: the model's).
    EncodedData encode(const Dataset& data, int64_t max_len, bool need_labels,
                       const ModelConfig* config = nullptr) const;
};
// The model and, when the folder has tokenizer files, its tokenizer.
LoadedModel load_model_and_tokenizer(const std::string& dir, const ModelLoadOptions& options = {});

// Checks before any work that an output file can be written where asked: Error(usage) when it
// is a folder or its parent folder does not exist.
void check_output_file(const std::string& path);

// The label name of class id k (id2label).
std::string label_name(const ModelConfig& config, int64_t k);

// Several processes (mpirun): this process's part of the work and what is shared.

// Reads the examples whose indices in the file are `indices` (ascending): the others are counted
// but neither parsed nor held. Error naming the file when it has fewer examples than asked for.
Dataset read_examples(const std::string& path, const DataOptions& options,
                      const std::vector<int64_t>& indices);
// The number of examples in `path` as every rank of comm counts it: Error when a rank counts a
// different number (it sees another file), or when the data is standard input, which only one
// rank can read.
int64_t count_examples_on_all_ranks(Comm& comm, const std::string& path,
                                    const DataOptions& options);
// Logits [n, C] of all the examples on rank 0 (empty elsewhere) from each rank's logits of its
// consecutive part, gathered in rank order.
std::vector<float> gather_rows(Comm& comm, const std::vector<float>& rows);
// Labelled data of all the ranks' examples on rank 0 (their targets, pairs, truncated count and
// example count: enough for primary_metric and evaluate; the token ids stay on their ranks).
EncodedData gather_labels(Comm& comm, const EncodedData& local);

// Registers `run` on app (as a subcommand of fwsvd, or as the whole of fwsvd-run).
void setup_run(CLI::App* app);
// Registers `eval` as a subcommand.
void setup_eval(CLI::App* app);
// Registers `bench` (inference latency on random inputs) as a subcommand.
void setup_bench(CLI::App* app);

}  // namespace fwsvd::cli
