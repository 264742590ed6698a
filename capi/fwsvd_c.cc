// The C API (include/fwsvd/fwsvd.h) over Model, Session and the tokenizers. Every entry
// point catches everything: no exception crosses into C.
#include "include/fwsvd/fwsvd.h"

#include <cmath>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "app/task.h"
#include "models/model.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "runtime/tokenizer.h"
#include "runtime/version.h"

struct fwsvd_model {
    std::shared_ptr<const fwsvd::Model> model;
    std::unique_ptr<fwsvd::Tokenizer> tokenizer;
};

struct fwsvd_session {
    const fwsvd_model* owner = nullptr;
    std::unique_ptr<fwsvd::Session> session;
    fwsvd::Batch batch;
    std::vector<float> logits;  // [n, num_labels] of the last call
};

namespace {

thread_local std::string g_last_error;

fwsvd_status fail(fwsvd_status status, const std::string& message) {
    g_last_error = message;
    return status;
}

template <typename F>
fwsvd_status guarded(F&& f) {
    try {
        g_last_error.clear();
        f();
        return FWSVD_OK;
    } catch (const fwsvd::Error& e) {
        return fail(static_cast<fwsvd_status>(int(e.kind())), e.what());
    } catch (const std::bad_alloc&) {
        return fail(FWSVD_ERR_IO, "out of memory");
    } catch (const std::exception& e) {
        return fail(FWSVD_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(FWSVD_ERR_INTERNAL, "internal error: unknown exception");
    }
}

// Runs the batch in the session and writes the requested outputs for examples [0, n).
void finish(fwsvd_session* s, size_t n, float* logits, float* probs, int* labels) {
    const fwsvd::ModelConfig& c = s->owner->model->config();
    const int64_t C = c.num_labels();
    s->batch.validate(c, "fwsvd_classify");
    s->logits.resize(n * size_t(C));
    s->session->forward(s->batch, s->logits.data());
    for (size_t i = 0; i < n; ++i) {
        fwsvd::Prediction p = fwsvd::make_prediction(c, s->logits.data() + i * size_t(C));
        for (int64_t j = 0; j < C; ++j) {
            if (logits) logits[i * size_t(C) + size_t(j)] = p.logits[size_t(j)];
            if (probs) {
                probs[i * size_t(C) + size_t(j)] =
                    c.is_regression() ? float(p.score) : p.probabilities[size_t(j)];
            }
        }
        if (labels) labels[i] = c.is_regression() ? 0 : int(p.label_id);
    }
}

}  // namespace

extern "C" {

const char* fwsvd_version(void) {
    return fwsvd::version();
}

const char* fwsvd_last_error(void) {
    return g_last_error.c_str();
}

void fwsvd_set_num_threads(int n) {
    fwsvd::set_num_threads(n);
}

fwsvd_status fwsvd_model_open(const char* dir, fwsvd_model** out) {
    if (!dir || !out) return fail(FWSVD_ERR_USAGE, "fwsvd_model_open: NULL argument");
    *out = nullptr;
    return guarded([&] {
        auto m = std::make_unique<fwsvd_model>();
        m->model = fwsvd::Model::load(dir);
        m->tokenizer = fwsvd::load_model_tokenizer(dir, m->model->config());
        *out = m.release();
    });
}

void fwsvd_model_free(fwsvd_model* model) {
    delete model;
}

int fwsvd_model_num_labels(const fwsvd_model* model) {
    return model ? int(model->model->config().num_labels()) : 0;
}

int fwsvd_model_is_regression(const fwsvd_model* model) {
    return model && model->model->config().is_regression() ? 1 : 0;
}

const char* fwsvd_model_label(const fwsvd_model* model, int id) {
    if (!model || id < 0 || id >= int(model->model->config().id2label.size())) return nullptr;
    return model->model->config().id2label[size_t(id)].c_str();
}

fwsvd_status fwsvd_session_create(const fwsvd_model* model, fwsvd_session** out) {
    return fwsvd_session_create_precision(model, "f32", out);
}

fwsvd_status fwsvd_session_create_precision(const fwsvd_model* model, const char* precision,
                                            fwsvd_session** out) {
    if (!model || !out || !precision) {
        return fail(FWSVD_ERR_USAGE, "fwsvd_session_create: NULL argument");
    }
    *out = nullptr;
    return guarded([&] {
        fwsvd::PackedOptions options;
        if (!fwsvd::kernels::parse_precision(precision, &options.precision)) {
            throw fwsvd::Error(std::string("fwsvd_session_create: unknown precision '") +
                               precision + "' (f32, bf16 or int8)");
        }
        auto s = std::make_unique<fwsvd_session>();
        s->owner = model;
        s->session = std::make_unique<fwsvd::Session>(model->model, options);
        *out = s.release();
    });
}

void fwsvd_session_free(fwsvd_session* session) {
    delete session;
}

fwsvd_status fwsvd_classify(fwsvd_session* s, size_t n, const char* const* text_a,
                            const char* const* text_b, int max_len, float* logits,
                            float* probabilities, int* labels) {
    if (!s || (n > 0 && !text_a)) return fail(FWSVD_ERR_USAGE, "fwsvd_classify: NULL argument");
    if (max_len < 0) return fail(FWSVD_ERR_USAGE, "fwsvd_classify: negative max_len");
    if (n == 0) return FWSVD_OK;
    return guarded([&] {
        const int64_t len = max_len == 0 ? 128 : max_len;
        s->batch.clear();
        for (size_t i = 0; i < n; ++i) {
            if (!text_a[i])
                throw fwsvd::Error("fwsvd_classify: text_a[" + std::to_string(i) + "] is NULL",
                                   fwsvd::ErrorKind::usage);
            if (!s->owner->tokenizer) {
                throw fwsvd::Error(
                    "fwsvd_classify: the model folder has no tokenizer files "
                    "(tokenizer.json, vocab.txt, ...): use fwsvd_classify_ids");
            }
            const bool pair = text_b && text_b[i];
            fwsvd::Encoding e = pair ? s->owner->tokenizer->encode_pair(text_a[i], text_b[i], len)
                                     : s->owner->tokenizer->encode(text_a[i], len);
            s->batch.add(e.ids.data(), e.type_ids.data(), int64_t(e.ids.size()));
        }
        finish(s, n, logits, probabilities, labels);
    });
}

fwsvd_status fwsvd_classify_ids(fwsvd_session* s, size_t n, const int32_t* const* ids,
                                const int32_t* const* type_ids, const size_t* lengths,
                                float* logits, float* probabilities, int* labels) {
    if (!s || (n > 0 && (!ids || !lengths))) {
        return fail(FWSVD_ERR_USAGE, "fwsvd_classify_ids: NULL argument");
    }
    if (n == 0) return FWSVD_OK;
    return guarded([&] {
        s->batch.clear();
        for (size_t i = 0; i < n; ++i) {
            if (!ids[i] || lengths[i] == 0) {
                throw fwsvd::Error(
                    "fwsvd_classify_ids: sequence " + std::to_string(i) + " is empty or NULL",
                    fwsvd::ErrorKind::usage);
            }
            s->batch.add(ids[i], type_ids ? type_ids[i] : nullptr, int64_t(lengths[i]));
        }
        finish(s, n, logits, probabilities, labels);
    });
}

}  // extern "C"
