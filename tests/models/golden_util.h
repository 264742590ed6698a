// Loading the float64 golden models and their expected outputs: ../shared/golden/tiny-{cls,reg}
// and the repository's tests/golden/<family> (made by tests/golden/generate.py).
#pragma once
#include <string>
#include <vector>

#include "app/task.h"
#include "models/batch.h"
#include "models/forward.h"
#include "models/model.h"
#include "runtime/safetensors.h"
#include "tests/test_util.h"

namespace fwsvd::testing {

struct Golden {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const SafetensorsFile> expected;
    Batch batch;      // the golden's rows, padded to the same length (keys = mask sum)
    Targets targets;  // its labels
    int64_t rows = 0, cols = 0;
};

// Whether a golden is the repository's (tests/golden/NAME) rather than ../shared's.
inline bool golden_in_repo(const std::string& name) {
    return std::filesystem::exists(std::filesystem::path(FWSVD_SOURCE_DIR) / "tests" / "golden" /
                                   name / "expected.safetensors");
}

// The folder of a golden: the repository's tests/golden/NAME, else ../shared/golden/NAME.
inline std::filesystem::path golden_dir(const std::string& name) {
    return golden_in_repo(name)
               ? std::filesystem::path(FWSVD_SOURCE_DIR) / "tests" / "golden" / name
               : shared_dir() / "golden" / name;
}

// The model families with a golden in tests/golden.
inline const std::vector<std::string>& family_goldens() {
    static const std::vector<std::string> names = {"bert",        "distilbert", "roberta",
                                                   "xlm-roberta", "albert",     "electra"};
    return names;
}

inline Golden load_golden(const std::string& name) {
    Golden g;
    auto dir = golden_dir(name);
    g.model = Model::load(dir);
    g.expected = SafetensorsFile::open(dir / "expected.safetensors");
    Tensor ids = g.expected->read("input_ids");
    Tensor types = g.expected->read("token_type_ids");
    Tensor mask = g.expected->read("attention_mask");
    Tensor labels = g.expected->read_f32("labels");
    g.rows = ids.dim(0);
    g.cols = ids.dim(1);
    for (int64_t r = 0; r < g.rows; ++r) {
        int64_t keys = 0;
        for (int64_t c = 0; c < g.cols; ++c) keys += mask.data<int32_t>()[r * g.cols + c];
        g.batch.add(ids.data<int32_t>() + r * g.cols, types.data<int32_t>() + r * g.cols, g.cols,
                    keys);
        if (g.model->config().is_regression()) {
            g.targets.values.push_back(labels.data<float>()[r]);
        } else {
            g.targets.classes.push_back(int32_t(labels.data<float>()[r]));
        }
    }
    return g;
}

// The golden rows without their padding, as a labelled EncodedData.
inline EncodedData golden_data(const Golden& g) {
    EncodedData d;
    d.source = "golden";
    d.has_labels = true;
    d.targets = g.targets;
    for (const auto& s : g.batch.seqs) {
        EncodedExample e;
        e.ids.assign(g.batch.ids.begin() + s.offset, g.batch.ids.begin() + s.offset + s.keys);
        e.type_ids.assign(g.batch.type_ids.begin() + s.offset,
                          g.batch.type_ids.begin() + s.offset + s.keys);
        d.encodings.push_back(e);
        d.lines.push_back(int64_t(d.lines.size()) + 1);
    }
    return d;
}

}  // namespace fwsvd::testing
