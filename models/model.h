// A loaded checkpoint of any supported family: config, parameter table and weights
// (memory-mapped where they are float32 and aligned, converted otherwise). Immutable after
// loading; share it between threads.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/model_config.h"
#include "models/params.h"
#include "runtime/safetensors.h"

namespace fwsvd {

struct ModelLoadOptions {
    // Refuse checkpoints without a classifier (run/eval need one); finetune/init do not.
    bool require_classifier = true;
};

class Model {
  public:
    // Loads MODEL_DIR/config.json and MODEL_DIR/model.safetensors. Accepts the checkpoint classes
    // of the supported families (Family::architectures: sequence classifiers, bare base models
    // and masked-LM checkpoints, whose LM heads are ignored) and fwsvd's factored checkpoints;
    // refuses anything else with an Error naming the file and what it found.
    static std::shared_ptr<const Model> load(const std::filesystem::path& dir,
                                             const ModelLoadOptions& options = {});
    // A model over a flat buffer laid out by `layout` (training and compression results).
    static std::shared_ptr<const Model> from_flat(const ModelConfig& config,
                                                  const ParamLayout& layout, Tensor flat);

    const ModelConfig& config() const { return config_; }
    const ParamLayout& layout() const { return layout_; }
    const ModelParams& params() const { return params_; }
    const std::filesystem::path& dir() const { return dir_; }
    bool has_head_dense() const { return params_.head_dense.present(); }
    bool has_classifier() const { return params_.classifier.present(); }
    // Read-only pointer to the data of layout entry i.
    const float* entry_data(size_t i) const { return entry_ptrs_.at(i); }
    const float* find_data(const std::string& name) const;
    // A flat, writable copy of every parameter, laid out by layout().
    Tensor copy_flat() const;
    // SHA-256 of model.safetensors as loaded ("" for models built in memory).
    std::string checksum() const;
    // Parameters and bytes (float32) of the whole model.
    int64_t num_params() const;
    // Drops the pages of a linear layer's weights from resident memory when they are views into
    // the memory-mapped file (a later read maps them in again; SafetensorsFile::release_pages).
    // Called once the weights are packed, so that a loaded model does not hold them twice.
    void release_weight_pages(const LinearParams& p) const;

  private:
    Model() = default;
    void bind_entries();
    ModelConfig config_;
    ParamLayout layout_;
    ModelParams params_;
    std::vector<const float*> entry_ptrs_;  // per layout entry
    std::filesystem::path dir_;
    std::shared_ptr<const SafetensorsFile> file_;
    Tensor owned_;  // converted tensors, or the whole flat buffer for from_flat
};

// Writes an HF-style checkpoint folder (config.json, model.safetensors, tokenizer files copied
// from tokenizer_dir when given) atomically. The flat buffer is laid out by layout.
// extra_files: more files to write into the folder (name -> content), e.g. a training report.
void save_checkpoint(const std::filesystem::path& out_dir, const ModelConfig& config,
                     const ParamLayout& layout, const float* flat,
                     const std::filesystem::path& tokenizer_dir,
                     const std::map<std::string, std::string>& metadata = {},
                     const std::map<std::string, std::string>& extra_files = {});

// Names of the tokenizer files a model folder may carry (copied along with checkpoints).
const std::vector<std::string>& tokenizer_file_names();

// The ranks recorded in the low_rank block (written by the compressor) of a factored
// checkpoint's config.json
// (low_rank.ranks: encoder linear prefix -> rank); empty when the config has no such block.
// Throws Error naming `source` when the block is not an object, a prefix is not an encoder
// linear layer of the config, or a rank is not an integer in [1, min(in, out)].
std::map<std::string, int64_t> low_rank_ranks(const ModelConfig& config, const std::string& source);

}  // namespace fwsvd
