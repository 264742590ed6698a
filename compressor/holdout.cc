#include "compressor/holdout.h"

#include <algorithm>
#include <cmath>

#include "models/session.h"
#include "runtime/error.h"

namespace fwsvd {

double holdout_loss(std::shared_ptr<const Model> model, const EncodedData& data) {
    FWSVD_CHECK(data.has_labels, data.source, ": held-out examples need labels");
    FWSVD_CHECK(!data.encodings.empty(), data.source, ": no held-out examples");
    FWSVD_CHECK(model->has_classifier(), "the model has no classifier head: no task loss");
    const ModelConfig& config = model->config();
    const int64_t c = config.num_labels();
    Session session(model);
    const std::vector<float> logits = predict_logits(session, data, 32, nullptr);  // [N, C]
    const size_t n = data.encodings.size();
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        const float* z = logits.data() + i * size_t(c);
        if (config.is_regression()) {
            const double d = double(z[0]) - double(data.targets.values.at(i));
            sum += d * d;
        } else {
            const double m = *std::max_element(z, z + c);
            double e = 0;
            for (int64_t k = 0; k < c; ++k) e += std::exp(double(z[k]) - m);
            sum += m + std::log(e) - double(z[data.targets.classes.at(i)]);
        }
    }
    const double loss = sum / double(n);
    FWSVD_CHECK(std::isfinite(loss), "the held-out loss is not finite");
    return loss;
}

}  // namespace fwsvd
