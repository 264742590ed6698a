// Fuzzes the safetensors reader: 8-byte header length, JSON header, dtypes, shapes, offsets.
// Every tensor the reader accepts must be readable in full, and writing the accepted tensors back
// must give a file the reader accepts again with the same contents.
#include <cstring>

#include "fuzz/fuzz_util.h"
#include "runtime/error.h"
#include "runtime/safetensors.h"

using namespace fwsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::shared_ptr<const SafetensorsFile> file;
    try {
        file = SafetensorsFile::parse(data, size, "fuzz.safetensors");
    } catch (const Error&) {
        return 0;  // refused with a message: fine
    }
    SafetensorsWriter writer;
    for (const auto& [k, v] : file->metadata()) writer.set_metadata(k, v);
    for (const TensorInfo& t : file->tensors()) {
        FWSVD_FUZZ_ASSERT(t.numel >= 0);
        FWSVD_FUZZ_ASSERT(t.end - t.begin == uint64_t(t.numel) * dtype_size(t.dtype));
        FWSVD_FUZZ_ASSERT(static_cast<const uint8_t*>(t.data) + (t.end - t.begin) <= data + size);
        FWSVD_FUZZ_ASSERT(file->find(t.name) == &t);
        if (t.numel > (int64_t(1) << 22)) continue;  // keep each run fast
        Tensor raw = file->read(t.name);
        FWSVD_FUZZ_ASSERT(std::memcmp(raw.raw(), t.data, raw.nbytes()) == 0);
        Tensor f = file->read_f32(t.name, &t.shape);
        FWSVD_FUZZ_ASSERT(f.numel() == t.numel);
        (void)file->f32_view(t.name);
        if (t.name.empty() || t.name == "__metadata__") continue;
        writer.add(t.name, raw);
    }
    std::string bytes;
    try {
        bytes = writer.serialize();
    } catch (const Error&) {
        std::abort();  // the writer must take what the reader accepted
    }
    auto again = SafetensorsFile::parse(bytes.data(), bytes.size(), "roundtrip.safetensors");
    for (const TensorInfo& t : again->tensors()) {
        const TensorInfo* orig = file->find(t.name);
        FWSVD_FUZZ_ASSERT(orig && orig->shape == t.shape && orig->dtype == t.dtype);
        FWSVD_FUZZ_ASSERT(std::memcmp(orig->data, t.data, t.end - t.begin) == 0);
    }
    return 0;
}
