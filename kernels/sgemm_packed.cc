// sgemm_packed: weight packing, the thread split, the per-thread input buffer and the scalar twin.
// The arithmetic is in sgemm_packed_avx2.cc.
#include "kernels/sgemm_packed.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "kernels/activation.h"
#include "kernels/gemm.h"

namespace fwsvd::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

// This thread's input buffer (kSgemmMc x kSgemmKc floats), allocated on its first call.
float* thread_input_buffer() {
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    thread_local std::unique_ptr<float, Free> buf;
    if (!buf) {
        constexpr size_t bytes = size_t(kSgemmMc * kSgemmKc) * sizeof(float);
        buf.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
        if (!buf) throw std::bad_alloc();
    }
    return buf.get();
}

}  // namespace

bool sgemm_packed_supported() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int64_t sgemm_packed_floats(int64_t n, int64_t k) {
    return ceil_div(n, kSgemmNr) * kSgemmNr * k;
}

void sgemm_pack_weights(float* packed, const float* w, int64_t n, int64_t k) {
    const int64_t panels = ceil_div(n, kSgemmNr);
    for (int64_t j = 0; j < panels; ++j) {
        float* dst = packed + j * kSgemmNr * k;
        for (int64_t c = 0; c < kSgemmNr; ++c) {
            const int64_t col = j * kSgemmNr + c;
            if (col < n) {
                const float* src = w + col * k;
                for (int64_t p = 0; p < k; ++p) dst[p * kSgemmNr + c] = src[p];
            } else {
                for (int64_t p = 0; p < k; ++p) dst[p * kSgemmNr + c] = 0.0f;
            }
        }
    }
}

void sgemm_packed(float* out, const float* inp, const float* packed, const float* bias, int64_t m,
                  int64_t n, int64_t k, MatmulEpilogue epilogue, int threads) {
    if (m <= 0 || n <= 0) return;
    const int64_t panels = ceil_div(n, kSgemmNr);
    const int64_t tiles = ceil_div(m, kSgemmMr);  // row micro-panels
    // A thread per ~2 MFLOP at least: a smaller product is not worth waking the team.
    constexpr double kMinFlopsPerThread = 2e6;
    int64_t team = omp_in_parallel() ? 1 : std::max(1, threads);
    team = std::min<int64_t>(team, std::max<int64_t>(1, int64_t(2.0 * double(m) * double(n) *
                                                                double(k) / kMinFlopsPerThread)));
    // Split the panels while each thread gets several (each packs the whole input once), else
    // the rows in whole micro-panels.
    const bool by_panels = panels >= 4 * team || tiles < team;
    team = std::min(team, by_panels ? panels : tiles);
    if (team <= 1) {
        sgemm_packed_block_avx2(out, inp, packed, bias, m, n, k, epilogue, 0, m, 0, panels,
                                thread_input_buffer());
        return;
    }
#pragma omp parallel num_threads(int(team))
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        float* a_buf = thread_input_buffer();
        if (by_panels) {
            sgemm_packed_block_avx2(out, inp, packed, bias, m, n, k, epilogue, 0, m,
                                    panels * t / nt, panels * (t + 1) / nt, a_buf);
        } else {
            const int64_t r0 = tiles * t / nt * kSgemmMr;
            const int64_t r1 = std::min(m, tiles * (t + 1) / nt * kSgemmMr);
            sgemm_packed_block_avx2(out, inp, packed, bias, m, n, k, epilogue, r0, r1, 0, panels,
                                    a_buf);
        }
    }
}

void sgemm_packed_ref(float* out, const float* inp, const float* w, const float* bias, int64_t m,
                      int64_t n, int64_t k, MatmulEpilogue epilogue) {
    std::vector<float> acc(size_t(m * n));
    gemm_ref<float>(false, true, m, n, k, 1.0f, inp, k, w, k, 0.0f, acc.data(), n);
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            float v = acc[size_t(i * n + j)];
            if (bias) v += bias[j];
            if (epilogue == MatmulEpilogue::residual) v += out[i * n + j];
            acc[size_t(i * n + j)] = v;
        }
    }
    if (epilogue == MatmulEpilogue::gelu_erf) {
        gelu_inference_forward_ref<float>(acc.data(), acc.data(), m * n);
    }
    std::copy(acc.begin(), acc.end(), out);
}

}  // namespace fwsvd::kernels
