#include "runtime/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "runtime/error.h"

namespace fwsvd {

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return 4;
        case DType::f16:
            return 2;
        case DType::bf16:
            return 2;
        case DType::f64:
            return 8;
        case DType::i64:
            return 8;
        case DType::i32:
            return 4;
    }
    return 0;
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return "F32";
        case DType::f16:
            return "F16";
        case DType::bf16:
            return "BF16";
        case DType::f64:
            return "F64";
        case DType::i64:
            return "I64";
        case DType::i32:
            return "I32";
    }
    return "?";
}

bool parse_dtype(const std::string& name, DType* out) {
    static const struct {
        const char* name;
        DType dtype;
    } table[] = {{"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16},
                 {"F64", DType::f64}, {"I64", DType::i64}, {"I32", DType::i32}};
    for (const auto& e : table) {
        if (name == e.name) {
            *out = e.dtype;
            return true;
        }
    }
    return false;
}

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        FWSVD_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
        if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
            throw Error(str_cat("shape ", shape_str(shape), " has too many elements (overflow)"));
        }
        n *= d;
    }
    return n;
}

std::string shape_str(const Shape& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = shape;
    t.numel_ = shape_numel(shape);
    size_t bytes = t.nbytes();
    size_t alloc = (bytes + 63) / 64 * 64;
    if (alloc == 0) alloc = 64;
    void* p = std::aligned_alloc(64, alloc);
    if (!p) throw Error(str_cat("out of memory allocating ", bytes, " bytes"), ErrorKind::io);
    std::memset(p, 0, alloc);
    t.storage_ = std::shared_ptr<void>(p, std::free);
    t.data_ = p;
    return t;
}

namespace {
float half_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
}  // namespace

void convert_to_f32(float* out, const void* src, DType dtype, int64_t n) {
    const auto* bytes = static_cast<const unsigned char*>(src);
    switch (dtype) {
        case DType::f32:
            std::memcpy(out, src, size_t(n) * 4);
            return;
        case DType::f64:
            for (int64_t i = 0; i < n; ++i) {
                double v;
                std::memcpy(&v, bytes + 8 * i, 8);
                out[i] = float(v);
            }
            return;
        case DType::f16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, bytes + 2 * i, 2);
                out[i] = half_to_float(h);
            }
            return;
        case DType::bf16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, bytes + 2 * i, 2);
                uint32_t bits = uint32_t(h) << 16;
                std::memcpy(&out[i], &bits, 4);
            }
            return;
        case DType::i64:
            for (int64_t i = 0; i < n; ++i) {
                int64_t v;
                std::memcpy(&v, bytes + 8 * i, 8);
                out[i] = float(v);
            }
            return;
        case DType::i32:
            for (int64_t i = 0; i < n; ++i) {
                int32_t v;
                std::memcpy(&v, bytes + 4 * i, 4);
                out[i] = float(v);
            }
            return;
    }
}

}  // namespace fwsvd
