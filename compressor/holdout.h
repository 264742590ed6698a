// The task loss of a model on held-out labelled examples (what --method auto compares): the mean
// over the examples of the cross-entropy of the true class (classification) or of the squared
// error (regression, num_labels 1), as model_loss defines it, from the inference runtime's
// logits (models/session.h), accumulated in double.
#pragma once
#include <memory>
#include <vector>

#include "models/encoded_data.h"
#include "models/model.h"

namespace fwsvd {

double holdout_loss(std::shared_ptr<const Model> model, const EncodedData& data);

// A model's outputs on held-out examples against their labels and against a reference model's
// logits (the dense model's): what --method auto can rank its candidates by.
struct HoldoutScore {
    double loss = 0;       // as holdout_loss
    double accuracy = -1;  // classification: fraction of argmax = label (-1 for regression)
    // Mean over the examples of KL(softmax(reference) || softmax(model)) (classification) or of
    // the squared difference of the outputs (regression); 0 without a reference.
    double divergence = 0;
};
// logits [N, C] of `model` on data (inference runtime, batches of 32).
std::vector<float> holdout_logits(std::shared_ptr<const Model> model, const EncodedData& data);
// reference: [N, C] logits of the reference model on the same data (null: none).
HoldoutScore score_holdout(const ModelConfig& config, const EncodedData& data,
                           const std::vector<float>& logits, const std::vector<float>* reference);

}  // namespace fwsvd
