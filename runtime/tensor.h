// A minimal owning n-dimensional array: dtype, shape and one contiguous row-major buffer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fwsvd {

enum class DType { f32, f16, bf16, f64, i64, i32 };

size_t dtype_size(DType dtype);
// The safetensors spelling: "F32", "F16", "BF16", "F64", "I64", "I32".
const char* dtype_name(DType dtype);
// Parses the safetensors spelling; false if the name is not one of the supported dtypes.
bool parse_dtype(const std::string& name, DType* out);

using Shape = std::vector<int64_t>;
// Product of the dimensions; throws Error if a dimension is negative or the product overflows.
int64_t shape_numel(const Shape& shape);
// "[2, 3]"
std::string shape_str(const Shape& shape);

class Tensor {
  public:
    Tensor() = default;
    // A zero-filled tensor that owns its storage (64-byte aligned).
    static Tensor zeros(const Shape& shape, DType dtype = DType::f32);

    DType dtype() const { return dtype_; }
    const Shape& shape() const { return shape_; }
    int64_t dim(size_t i) const { return shape_.at(i); }
    size_t ndim() const { return shape_.size(); }
    int64_t numel() const { return numel_; }
    size_t nbytes() const { return size_t(numel_) * dtype_size(dtype_); }
    bool empty() const { return data_ == nullptr; }

    template <typename T>
    T* data() {
        return static_cast<T*>(data_);
    }
    template <typename T>
    const T* data() const {
        return static_cast<const T*>(data_);
    }
    void* raw() { return data_; }
    const void* raw() const { return data_; }

  private:
    DType dtype_ = DType::f32;
    Shape shape_;
    int64_t numel_ = 0;
    std::shared_ptr<void> storage_;
    void* data_ = nullptr;
};

// Converts n elements of a floating or integer dtype to float (F16/BF16 exactly, F64 rounded).
void convert_to_f32(float* out, const void* src, DType dtype, int64_t n);

}  // namespace fwsvd
