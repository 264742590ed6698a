// Inference: a per-thread workspace over a shared, immutable BertModel. A Session is not
// thread-safe; create one per thread (they share the model's weights).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "models/batch.h"
#include "models/bert_model.h"

namespace fwsvd {

class Session {
public:
    explicit Session(std::shared_ptr<const BertModel> model);

    // logits[B, C] of the batch (eval mode). The batch must fit the model (Batch::validate).
    void forward(const Batch& batch, float* logits);
    std::vector<float> logits(const Batch& batch);
    const BertModel& model() const { return *model_; }

private:
    void reserve(int64_t tokens, int64_t seqs);
    std::shared_ptr<const BertModel> model_;
    int64_t cap_tokens_ = 0, cap_seqs_ = 0;
    std::vector<float> x_;      // [N, H] residual stream
    std::vector<float> q_;      // [N, H]
    std::vector<float> k_;      // [N, H]
    std::vector<float> v_;      // [N, H]
    std::vector<float> ctx_;    // [N, H]
    std::vector<float> tmp_;    // [N, H]
    std::vector<float> inter_;  // [N, I]
    std::vector<float> t_;      // [N, max rank] factored layers' middle
    std::vector<float> cls_;    // [B, H]
    std::vector<float> pooled_; // [B, H]
    std::vector<kernels::SeqSpan> seqs_;
};

// Probabilities (softmax of logits, classification) and the arg-max label of one example.
struct Prediction {
    int64_t label_id = 0;
    std::vector<float> logits;         // [C]
    std::vector<float> probabilities;  // [C]; empty for regression
    double score = 0;                  // regression output
};
Prediction make_prediction(const BertConfig& config, const float* logits);

}  // namespace fwsvd
