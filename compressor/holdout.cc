#include "compressor/holdout.h"

#include <algorithm>
#include <cmath>

#include "models/session.h"
#include "runtime/error.h"

namespace fwsvd {

namespace {

// log Σ exp(z) over C logits.
double log_sum_exp(const float* z, int64_t c) {
    const double m = *std::max_element(z, z + c);
    double e = 0;
    for (int64_t k = 0; k < c; ++k) e += std::exp(double(z[k]) - m);
    return m + std::log(e);
}

}  // namespace

std::vector<float> holdout_logits(std::shared_ptr<const Model> model, const EncodedData& data) {
    FWSVD_CHECK(!data.encodings.empty(), data.source, ": no held-out examples");
    FWSVD_CHECK(model->has_classifier(), "the model has no classifier head: no task loss");
    Session session(model);
    return predict_logits(session, data, 32, nullptr);
}

HoldoutScore score_holdout(const ModelConfig& config, const EncodedData& data,
                           const std::vector<float>& logits, const std::vector<float>* reference) {
    FWSVD_CHECK(data.has_labels, data.source, ": held-out examples need labels");
    const int64_t c = config.num_labels();
    const size_t n = data.encodings.size();
    FWSVD_CHECK(logits.size() == n * size_t(c), "internal: held-out logits of the wrong size");
    FWSVD_CHECK(!reference || reference->size() == logits.size(),
                "internal: reference logits of the wrong size");
    double loss = 0, correct = 0, div = 0;
    for (size_t i = 0; i < n; ++i) {
        const float* z = logits.data() + i * size_t(c);
        const float* zr = reference ? reference->data() + i * size_t(c) : nullptr;
        if (config.is_regression()) {
            const double d = double(z[0]) - double(data.targets.values.at(i));
            loss += d * d;
            if (zr) div += (double(z[0]) - double(zr[0])) * (double(z[0]) - double(zr[0]));
            continue;
        }
        const int32_t y = data.targets.classes.at(i);
        const double lse = log_sum_exp(z, c);
        loss += lse - double(z[y]);
        correct += double(std::max_element(z, z + c) - z == y);
        if (zr) {
            const double lse_r = log_sum_exp(zr, c);
            for (int64_t k = 0; k < c; ++k) {
                const double lp_r = double(zr[k]) - lse_r, lp = double(z[k]) - lse;
                div += std::exp(lp_r) * (lp_r - lp);
            }
        }
    }
    HoldoutScore s;
    s.loss = loss / double(n);
    s.accuracy = config.is_regression() ? -1.0 : correct / double(n);
    s.divergence = div / double(n);
    FWSVD_CHECK(std::isfinite(s.loss) && std::isfinite(s.divergence),
                "the held-out loss is not finite");
    return s;
}

double holdout_loss(std::shared_ptr<const Model> model, const EncodedData& data) {
    return score_holdout(model->config(), data, holdout_logits(model, data), nullptr).loss;
}

}  // namespace fwsvd
