// BERT input embeddings: gather-add forward, scatter-add backward.
#include "kernels/embedding.h"

namespace fwsvd::kernels {

// ---- float entry points: one implementation for every ISA (the scalar twin) ---------------------

void embedding_forward(float* out, const int32_t* ids, const int32_t* pos_ids,
                       const int32_t* type_ids, const float* word, const float* pos,
                       const float* type, int64_t n, int64_t h) {
    embedding_forward_ref<float>(out, ids, pos_ids, type_ids, word, pos, type, n, h);
}

void embedding_backward(float* dword, float* dpos, float* dtype, const float* dout,
                        const int32_t* ids, const int32_t* pos_ids, const int32_t* type_ids,
                        int64_t n, int64_t h) {
    embedding_backward_ref<float>(dword, dpos, dtype, dout, ids, pos_ids, type_ids, n, h);
}

// ---- scalar twins ------------------------------------------------------------------------------

template <typename T>
void embedding_forward_ref(T* out, const int32_t* ids, const int32_t* pos_ids,
                           const int32_t* type_ids, const T* word, const T* pos, const T* type,
                           int64_t n, int64_t h) {
    for (int64_t i = 0; i < n; ++i) {
        T* o = out + i * h;
        const T* w = word ? word + int64_t(ids[i]) * h : o;
        const T* p = pos + int64_t(pos_ids[i]) * h;
        const T* t = type ? type + int64_t(type_ids[i]) * h : nullptr;
        for (int64_t j = 0; j < h; ++j) {
            double acc = double(w[j]) + double(p[j]);
            if (t) acc += double(t[j]);
            o[j] = T(acc);
        }
    }
}

template <typename T>
void embedding_backward_ref(T* dword, T* dpos, T* dtype, const T* dout, const int32_t* ids,
                            const int32_t* pos_ids, const int32_t* type_ids, int64_t n, int64_t h) {
    for (int64_t i = 0; i < n; ++i) {
        const T* g = dout + i * h;
        if (dword) {
            T* d = dword + int64_t(ids[i]) * h;
            for (int64_t j = 0; j < h; ++j) d[j] += g[j];
        }
        if (dpos) {
            T* d = dpos + int64_t(pos_ids[i]) * h;
            for (int64_t j = 0; j < h; ++j) d[j] += g[j];
        }
        if (dtype && type_ids) {
            T* d = dtype + int64_t(type_ids[i]) * h;
            for (int64_t j = 0; j < h; ++j) d[j] += g[j];
        }
    }
}

template void embedding_forward_ref<float>(float*, const int32_t*, const int32_t*, const int32_t*,
                                           const float*, const float*, const float*, int64_t,
                                           int64_t);
template void embedding_forward_ref<double>(double*, const int32_t*, const int32_t*, const int32_t*,
                                            const double*, const double*, const double*, int64_t,
                                            int64_t);
template void embedding_backward_ref<float>(float*, float*, float*, const float*, const int32_t*,
                                            const int32_t*, const int32_t*, int64_t, int64_t);
template void embedding_backward_ref<double>(double*, double*, double*, const double*,
                                             const int32_t*, const int32_t*, const int32_t*,
                                             int64_t, int64_t);

}  // namespace fwsvd::kernels
