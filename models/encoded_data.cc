#include "models/encoded_data.h"

#include <algorithm>

#include "runtime/error.h"

namespace fwsvd {

void fill_batch(Batch& batch, const EncodedData& data, const std::vector<size_t>& order,
                size_t begin, size_t end) {
    batch.clear();
    for (size_t i = begin; i < end; ++i) {
        const EncodedExample& e = data.encodings[order[i]];
        batch.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
    }
}

void fill_targets(Targets& targets, const EncodedData& data, const std::vector<size_t>& order,
                  size_t begin, size_t end) {
    targets.classes.clear();
    targets.values.clear();
    const bool regression = !data.targets.values.empty();
    for (size_t i = begin; i < end; ++i) {
        if (regression) {
            targets.values.push_back(data.targets.values[order[i]]);
        } else {
            targets.classes.push_back(data.targets.classes[order[i]]);
        }
    }
}

std::vector<float> predict_logits(Session& session, const EncodedData& data, int64_t batch_size,
                                  Progress* progress) {
    const ModelConfig& c = session.model().config();
    const int64_t C = c.num_labels();
    const size_t n = data.encodings.size();
    FWSVD_CHECK(batch_size >= 1, "batch size must be at least 1");
    // Similar lengths together balance the attention work of a batch.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return data.encodings[a].ids.size() < data.encodings[b].ids.size();
    });
    std::vector<float> logits(n * size_t(C));
    std::vector<float> out;
    Batch batch;
    for (size_t begin = 0; begin < n; begin += size_t(batch_size)) {
        size_t end = std::min(n, begin + size_t(batch_size));
        fill_batch(batch, data, order, begin, end);
        batch.validate(c, data.source.c_str());
        out.resize((end - begin) * size_t(C));
        session.forward(batch, out.data());
        for (size_t i = begin; i < end; ++i) {
            std::copy_n(out.data() + (i - begin) * size_t(C), C,
                        logits.data() + order[i] * size_t(C));
        }
        if (progress) progress->add(int64_t(end - begin));
    }
    return logits;
}

}  // namespace fwsvd
