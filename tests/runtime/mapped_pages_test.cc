// SafetensorsFile::release_pages: dropping mapped pages from resident memory never changes what
// the mapping reads (the pages come back from the file), and ranges outside the mapping, or files
// that were parsed from memory, are left alone.
#include <gtest/gtest.h>

#include <vector>

#include "runtime/safetensors.h"
#include "tests/bad_input_util.h"

namespace fwsvd::testing {
namespace {

TEST(MappedPages, ReleasedPagesReadTheSameBytes) {
    TempDir tmp;
    const auto path = tmp / "w.safetensors";
    std::vector<float> values(300000);  // > 1 MiB: many whole pages inside the tensor
    for (size_t i = 0; i < values.size(); ++i) values[i] = float(i % 9973) * 0.25f - 7.0f;
    SafetensorsWriter w;
    w.add_f32("w", {int64_t(values.size())}, values.data());
    w.write(path);

    auto f = SafetensorsFile::open(path);
    const float* view = f->f32_view("w");
    ASSERT_NE(view, nullptr);
    ASSERT_EQ(std::vector<float>(view, view + values.size()), values);
    f->release_pages(view, values.size() * sizeof(float));
    EXPECT_EQ(std::vector<float>(view, view + values.size()), values);
    // Twice, and a part only.
    f->release_pages(view + 1000, 50000 * sizeof(float));
    f->release_pages(view, values.size() * sizeof(float));
    EXPECT_EQ(std::vector<float>(view, view + values.size()), values);

    // Outside the mapping, null, empty, running past its end: ignored.
    std::vector<float> heap(values);
    f->release_pages(heap.data(), heap.size() * sizeof(float));
    EXPECT_EQ(heap, values);
    f->release_pages(nullptr, 4096);
    f->release_pages(view, 0);
    f->release_pages(view, f->file_size() * 2);
    EXPECT_EQ(std::vector<float>(view, view + values.size()), values);

    // A file parsed from memory has no mapping: its bytes stay as they are.
    const std::string bytes = read_bytes(path);
    auto parsed = SafetensorsFile::parse(bytes.data(), bytes.size(), "memory");
    const float* pv = parsed->f32_view("w");
    ASSERT_NE(pv, nullptr);
    parsed->release_pages(pv, values.size() * sizeof(float));
    EXPECT_EQ(std::vector<float>(pv, pv + values.size()), values);
}

}  // namespace
}  // namespace fwsvd::testing
