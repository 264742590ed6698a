// The safetensors format: an 8-byte little-endian header length, a JSON header, then the data.
// Reading memory-maps the file read-only and validates the header strictly.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace fwsvd {

struct TensorInfo {
    std::string name;
    DType dtype;
    Shape shape;     // dimensions as stored
    int64_t numel;   // product of shape
    uint64_t begin;  // byte offsets in the data section
    uint64_t end;
    const void* data;  // points into the mapping
};

class SafetensorsFile {
  public:
    // Maps and validates the file; throws Error naming the file and the problem: too short,
    // header length beyond the file, header not a JSON object, unknown dtype, bad shape, offsets
    // outside the data or overlapping or leaving holes, size not matching dtype and shape.
    static std::shared_ptr<const SafetensorsFile> open(const std::filesystem::path& path);
    // Validates a safetensors image already in memory, as open() does a file's; `name` stands
    // for the file in messages. The tensors point into data, which must outlive the result.
    static std::shared_ptr<const SafetensorsFile> parse(const void* data, size_t size,
                                                        const std::string& name);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // Tensors in the order of their data offsets.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // Null when absent.
    const TensorInfo* find(const std::string& name) const;
    // Throws Error "FILE: tensor NAME not found" when absent.
    const TensorInfo& get(const std::string& name) const;
    // Copies a tensor to F32 (converting from F16/BF16/F64/I32/I64). If expected_shape is given,
    // a different shape is an Error naming the file, the tensor and both shapes.
    Tensor read_f32(const std::string& name, const Shape* expected_shape = nullptr) const;
    // Copies a tensor in its own dtype.
    Tensor read(const std::string& name) const;
    // A pointer to F32 data in the mapping when the tensor is F32 and 4-byte aligned, else null.
    const float* f32_view(const std::string& name) const;
    size_t file_size() const { return size_; }
    // Drops the mapped pages that lie wholly inside [p, p + n) from this process's resident
    // memory (madvise MADV_DONTNEED). The mapping is private and read-only, so a later read
    // faults the same bytes back in from the file: nothing changes but the resident size. Ranges
    // outside the mapping (or files from parse()) are ignored. Used once weights are packed.
    void release_pages(const void* p, size_t n) const;

  private:
    SafetensorsFile() = default;
    // Validates the image at bytes_ (size_ bytes) and fills tensors_, index_ and metadata_.
    void parse_image(const std::string& where);
    std::filesystem::path path_;
    void* map_ = nullptr;  // owned mapping (open), or null (parse)
    const unsigned char* bytes_ = nullptr;
    size_t size_ = 0;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Collects tensors (copied in) and writes a safetensors file atomically (temp + rename).
// Names are written sorted; data is 8-byte aligned as transformers writes it.
class SafetensorsWriter {
  public:
    void add(const std::string& name, DType dtype, const Shape& shape, const void* data);
    void add(const std::string& name, const Tensor& tensor);
    void add_f32(const std::string& name, const Shape& shape, const float* data) {
        add(name, DType::f32, shape, data);
    }
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
    // Writes to path atomically. Throws Error(io) on failure, leaving any previous file intact.
    void write(const std::filesystem::path& path) const;
    // The bytes write() would produce.
    std::string serialize() const;

  private:
    struct Entry {
        DType dtype;
        Shape shape;
        std::string bytes;
    };
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace fwsvd
