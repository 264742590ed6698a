// The task loss of a model on held-out labelled examples (what --method auto compares): the mean
// over the examples of the cross-entropy of the true class (classification) or of the squared
// error (regression, num_labels 1), as model_loss defines it, from the inference runtime's
// logits (models/session.h), accumulated in double.
#pragma once
#include <memory>

#include "models/encoded_data.h"
#include "models/model.h"

namespace fwsvd {

double holdout_loss(std::shared_ptr<const Model> model, const EncodedData& data);

}  // namespace fwsvd
