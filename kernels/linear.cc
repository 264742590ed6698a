// Fully connected layer on top of gemm (float) and its scalar twin.
#include "kernels/linear.h"

#include "kernels/elementwise.h"
#include "kernels/gemm.h"

namespace fwsvd::kernels {

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t n,
                    int64_t c_in, int64_t c_out) {
    if (n <= 0 || c_out <= 0) return;
    // out[n, c_out] = inp[n, c_in] · weight[c_out, c_in]ᵀ
    gemm(false, true, n, c_out, c_in, 1.0f, inp, c_in, weight, c_in, 0.0f, out, c_out);
    if (bias) {
        for (int64_t i = 0; i < n; ++i) add_forward(out + i * c_out, out + i * c_out, bias, c_out);
    }
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t n, int64_t c_in, int64_t c_out) {
    // dinp[n, c_in] += dout[n, c_out] · weight[c_out, c_in]
    if (dinp) gemm(false, false, n, c_in, c_out, 1.0f, dout, c_out, weight, c_in, 1.0f, dinp, c_in);
    // dweight[c_out, c_in] += dout[n, c_out]ᵀ · inp[n, c_in]
    if (dweight) {
        gemm(true, false, c_out, c_in, n, 1.0f, dout, c_out, inp, c_in, 1.0f, dweight, c_in);
    }
    // dbias[c_out] += Σ_rows dout
    if (dbias) sum_rows_accumulate(dbias, dout, n, c_out);
}

template <typename T>
void linear_forward_ref(T* out, const T* inp, const T* weight, const T* bias, int64_t n,
                        int64_t c_in, int64_t c_out) {
    for (int64_t i = 0; i < n; ++i) {
        const T* x = inp + i * c_in;
        for (int64_t o = 0; o < c_out; ++o) {
            const T* w = weight + o * c_in;
            double acc = 0;
            for (int64_t c = 0; c < c_in; ++c) acc += double(x[c]) * double(w[c]);
            if (bias) acc += double(bias[o]);
            out[i * c_out + o] = T(acc);
        }
    }
}

template <typename T>
void linear_backward_ref(T* dinp, T* dweight, T* dbias, const T* dout, const T* inp,
                         const T* weight, int64_t n, int64_t c_in, int64_t c_out) {
    if (dinp) {
        for (int64_t i = 0; i < n; ++i) {
            for (int64_t c = 0; c < c_in; ++c) {
                double acc = 0;
                for (int64_t o = 0; o < c_out; ++o) {
                    acc += double(dout[i * c_out + o]) * double(weight[o * c_in + c]);
                }
                dinp[i * c_in + c] = T(double(dinp[i * c_in + c]) + acc);
            }
        }
    }
    if (dweight) {
        for (int64_t o = 0; o < c_out; ++o) {
            for (int64_t c = 0; c < c_in; ++c) {
                double acc = 0;
                for (int64_t i = 0; i < n; ++i) {
                    acc += double(dout[i * c_out + o]) * double(inp[i * c_in + c]);
                }
                dweight[o * c_in + c] = T(double(dweight[o * c_in + c]) + acc);
            }
        }
    }
    if (dbias) sum_rows_accumulate_ref<T>(dbias, dout, n, c_out);
}

template void linear_forward_ref<float>(float*, const float*, const float*, const float*, int64_t,
                                        int64_t, int64_t);
template void linear_forward_ref<double>(double*, const double*, const double*, const double*,
                                         int64_t, int64_t, int64_t);
template void linear_backward_ref<float>(float*, float*, float*, const float*, const float*,
                                         const float*, int64_t, int64_t, int64_t);
template void linear_backward_ref<double>(double*, double*, double*, const double*, const double*,
                                          const double*, int64_t, int64_t, int64_t);

}  // namespace fwsvd::kernels
