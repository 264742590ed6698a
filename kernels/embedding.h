// BERT input embeddings: word + position + token type (LayerNorm is applied by the caller).
#pragma once
#include <cstdint>

namespace fwsvd::kernels {

// out[i, :] = word[ids[i], :] + pos[pos_ids[i], :] + type[type_ids[i], :] for i < n; rows have
// h floats. Indices must be in range (the caller validates them). type may be null (no token
// types), then type_ids is ignored. word may be null (factored word embeddings, already
// computed into out): then out[i, :] += pos[...] + type[...] and ids is ignored.
void embedding_forward(float* out, const int32_t* ids, const int32_t* pos_ids,
                       const int32_t* type_ids, const float* word, const float* pos,
                       const float* type, int64_t n, int64_t h);
// Scatter-adds dout rows into dword, dpos, dtype (each may be null).
void embedding_backward(float* dword, float* dpos, float* dtype, const float* dout,
                        const int32_t* ids, const int32_t* pos_ids, const int32_t* type_ids,
                        int64_t n, int64_t h);

template <typename T>
void embedding_forward_ref(T* out, const int32_t* ids, const int32_t* pos_ids,
                           const int32_t* type_ids, const T* word, const T* pos, const T* type,
                           int64_t n, int64_t h);
template <typename T>
void embedding_backward_ref(T* dword, T* dpos, T* dtype, const T* dout, const int32_t* ids,
                            const int32_t* pos_ids, const int32_t* type_ids, int64_t n, int64_t h);

}  // namespace fwsvd::kernels
