#include "runtime/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_util.h"

namespace fwsvd {
namespace {

// Headers beyond this are refused (transformers' largest are a few MB).
constexpr uint64_t kMaxHeader = 100ull << 20;

}  // namespace

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
    const std::string where = path.string();
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer (regular files ignore it).
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        throw Error(str_cat(where, ": cannot open: ", std::strerror(e)),
                    e == ENOENT || e == ENOTDIR ? ErrorKind::invalid_input : ErrorKind::io);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw Error(str_cat(where, ": cannot stat: ", std::strerror(e)), ErrorKind::io);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(where + (S_ISDIR(st.st_mode) ? ": is a folder, not a safetensors file"
                                                 : ": not a regular file"));
    }
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->path_ = path;
    file->size_ = size_t(st.st_size);
    if (file->size_ >= 8) {  // shorter files are refused by parse_image without a mapping
        void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            ::close(fd);
            throw Error(str_cat(where, ": cannot map: ", std::strerror(e)), ErrorKind::io);
        }
        file->map_ = map;
        file->bytes_ = static_cast<const unsigned char*>(map);
    }
    ::close(fd);
    file->parse_image(where);
    return file;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::parse(const void* data, size_t size,
                                                              const std::string& name) {
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
    file->path_ = name;
    file->size_ = size;
    file->bytes_ = static_cast<const unsigned char*>(data);
    file->parse_image(name);
    return file;
}

void SafetensorsFile::parse_image(const std::string& where) {
    auto fail = [&](const std::string& what) -> Error { return Error(where + ": " + what); };
    if (size_ < 8) {
        throw fail(str_cat("truncated: ", size_, " bytes, shorter than the 8-byte header length"));
    }
    const unsigned char* bytes = bytes_;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    if (header_len > size_ - 8) {
        throw fail(str_cat("header length ", header_len, " goes beyond the end of the file (",
                           size_, " bytes): truncated or not a safetensors file"));
    }
    if (header_len > kMaxHeader) throw fail(str_cat("header length ", header_len, " is too large"));
    if (header_len < 2) throw fail("header is empty");
    const char* hbeg = reinterpret_cast<const char*>(bytes + 8);
    nlohmann::json header = parse_json(std::string_view(hbeg, header_len), where + ": header");
    if (!header.is_object()) throw fail("header is not a JSON object");

    const uint64_t data_size = size_ - 8 - header_len;
    const unsigned char* data = bytes + 8 + header_len;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const auto& v = it.value();
        if (name == "__metadata__") {
            if (!v.is_object()) throw fail("__metadata__ is not a JSON object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                if (!m.value().is_string()) {
                    throw fail(str_cat("__metadata__ value of '", m.key(), "' is not a string"));
                }
                metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        auto tfail = [&](const std::string& what) {
            return fail("tensor '" + name + "': " + what);
        };
        if (!v.is_object()) throw tfail("entry is not a JSON object");
        if (!v.contains("dtype") || !v["dtype"].is_string()) throw tfail("missing dtype");
        if (!v.contains("shape") || !v["shape"].is_array()) throw tfail("missing shape");
        if (!v.contains("data_offsets") || !v["data_offsets"].is_array() ||
            v["data_offsets"].size() != 2) {
            throw tfail("missing or malformed data_offsets");
        }
        TensorInfo info;
        info.name = name;
        std::string dt = v["dtype"].get<std::string>();
        if (!parse_dtype(dt, &info.dtype)) {
            throw tfail(
                str_cat("unsupported dtype '", dt, "' (supported: F32, F16, BF16, F64, I64, I32)"));
        }
        for (const auto& d : v["shape"]) {
            if (!d.is_number_integer() || d.get<int64_t>() < 0) {
                throw tfail("shape holds a value that is not a non-negative integer");
            }
            info.shape.push_back(d.get<int64_t>());
        }
        try {
            info.numel = shape_numel(info.shape);
        } catch (const Error& e) {
            throw tfail(e.what());
        }
        const auto& off = v["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            throw tfail("data_offsets are not non-negative integers");
        }
        info.begin = off[0].get<uint64_t>();
        info.end = off[1].get<uint64_t>();
        if (info.begin > info.end) throw tfail("data_offsets begin after they end");
        if (info.end > data_size) {
            throw tfail(str_cat("data_offsets [", info.begin, ", ", info.end,
                                ") lie outside the data section of ", data_size,
                                " bytes (truncated file?)"));
        }
        const uint64_t esize = dtype_size(info.dtype);
        if (uint64_t(info.numel) > data_size / esize ||
            info.end - info.begin != uint64_t(info.numel) * esize) {
            throw tfail(str_cat("holds ", info.end - info.begin, " bytes but ", dt, " ",
                                shape_str(info.shape), " needs ", uint64_t(info.numel) * esize));
        }
        info.data = data + info.begin;
        tensors_.push_back(std::move(info));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t pos = 0;
    for (const auto& t : tensors_) {
        if (t.begin < pos) {
            throw fail(str_cat("tensor '", t.name, "' overlaps the previous tensor's data"));
        }
        if (t.begin > pos) {
            throw fail(str_cat("hole in the data section before tensor '", t.name, "' (bytes ", pos,
                               " to ", t.begin, ")"));
        }
        pos = t.end;
    }
    if (pos != data_size) {
        throw fail(str_cat("data section has ", data_size - pos,
                           " bytes after the last tensor that no tensor uses"));
    }
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
    if (map_) ::munmap(map_, size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::get(const std::string& name) const {
    const TensorInfo* t = find(name);
    if (!t) throw Error(str_cat(path_.string(), ": tensor '", name, "' not found"));
    return *t;
}

Tensor SafetensorsFile::read_f32(const std::string& name, const Shape* expected_shape) const {
    const TensorInfo& t = get(name);
    if (expected_shape && *expected_shape != t.shape) {
        throw Error(str_cat(path_.string(), ": tensor '", name, "' has shape ", shape_str(t.shape),
                            ", expected ", shape_str(*expected_shape)));
    }
    Tensor out = Tensor::zeros(t.shape, DType::f32);
    convert_to_f32(out.data<float>(), t.data, t.dtype, t.numel);
    return out;
}

Tensor SafetensorsFile::read(const std::string& name) const {
    const TensorInfo& t = get(name);
    Tensor out = Tensor::zeros(t.shape, t.dtype);
    std::memcpy(out.raw(), t.data, out.nbytes());
    return out;
}

const float* SafetensorsFile::f32_view(const std::string& name) const {
    const TensorInfo& t = get(name);
    if (t.dtype != DType::f32 || reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0) {
        return nullptr;
    }
    return static_cast<const float*>(t.data);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape,
                            const void* data) {
    FWSVD_CHECK(!name.empty() && name != "__metadata__", "invalid tensor name '", name, "'");
    Entry e;
    e.dtype = dtype;
    e.shape = shape;
    size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
    e.bytes.assign(static_cast<const char*>(data), bytes);
    entries_[name] = std::move(e);
}

void SafetensorsWriter::add(const std::string& name, const Tensor& tensor) {
    add(name, tensor.dtype(), tensor.shape(), tensor.raw());
}

std::string SafetensorsWriter::serialize() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata_.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata_) meta[k] = v;
        header["__metadata__"] = meta;
    }
    uint64_t offset = 0;
    for (const auto& [name, e] : entries_) {
        header[name] = {{"dtype", dtype_name(e.dtype)},
                        {"shape", e.shape},
                        {"data_offsets", {offset, offset + e.bytes.size()}}};
        offset += e.bytes.size();
    }
    // Metadata may carry file names, which need not be UTF-8: invalid bytes become U+FFFD.
    std::string h = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    while ((8 + h.size()) % 8 != 0) h.push_back(' ');
    std::string out;
    out.reserve(8 + h.size() + offset);
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
    out += h;
    for (const auto& [name, e] : entries_) out += e.bytes;
    return out;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
    write_file_atomic(path, serialize());
}

void SafetensorsFile::release_pages(const void* p, size_t n) const {
    if (!map_ || !p || n == 0) return;
    const auto begin = reinterpret_cast<uintptr_t>(map_);
    const auto lo = reinterpret_cast<uintptr_t>(p);
    if (lo < begin || lo - begin >= size_ || n > size_ - (lo - begin)) return;
    const auto page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t first = (lo + page - 1) / page * page;
    const uintptr_t last = (lo + n) / page * page;
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace fwsvd
