// Reading a part of a data file (DataOptions::keep, count_examples): what each rank of a
// distributed run does with its examples, the others counted but never parsed.
#include <gtest/gtest.h>

#include <sstream>

#include "runtime/dataset.h"
#include "runtime/error.h"
#include "tests/bad_input_util.h"

namespace fwsvd::testing {
namespace {

Dataset read_text(const std::string& text, DataFormat format, const DataOptions& o) {
    std::istringstream in(text);
    return read_dataset(in, "part.data", format, o);
}

TEST(DataShard, KeepsTheChosenIndicesAndCountsAll) {
    // Blank lines are not examples; line 5 is malformed but outside the part.
    const std::string jsonl =
        "{\"text\": \"a\", \"label\": 0}\n\n{\"text\": \"b\", \"label\": 1}\n"
        "{\"text\": \"c\", \"label\": 0}\nnot json at all\n{\"text\": \"e\", \"label\": 1}\n";
    DataOptions o;
    o.keep = [](int64_t i) { return i == 1 || i == 4; };
    Dataset ds = read_text(jsonl, DataFormat::jsonl, o);
    EXPECT_EQ(ds.total, 5);
    ASSERT_EQ(ds.examples.size(), 2u);
    EXPECT_EQ(ds.examples[0].text_a, "b");
    EXPECT_EQ(ds.examples[0].index, 1);
    EXPECT_EQ(ds.examples[0].line, 3);
    EXPECT_EQ(ds.examples[1].text_a, "e");
    EXPECT_EQ(ds.examples[1].index, 4);
    EXPECT_EQ(ds.examples[1].line, 6);
    // The malformed line is an error for the part that holds it.
    o.keep = [](int64_t i) { return i == 3; };
    try {
        read_text(jsonl, DataFormat::jsonl, o);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("part.data:5"), std::string::npos) << e.what();
    }
    // Without keep: every example, indices in order.
    Dataset all = read_text("{\"text\": \"a\"}\n{\"text\": \"b\"}\n", DataFormat::jsonl, {});
    ASSERT_EQ(all.examples.size(), 2u);
    EXPECT_EQ(all.examples[1].index, 1);
    EXPECT_EQ(all.total, 2);
}

TEST(DataShard, TsvPartsAndCounts) {
    TempDir tmp;
    write_bytes(tmp / "d.tsv",
                "sentence\tlabel\nfirst\t0\nsecond\t1\n\nbad row without tab\nlast\t1\n");
    DataOptions o;
    EXPECT_EQ(count_examples((tmp / "d.tsv").string(), o), 4);
    o.keep = [](int64_t i) { return i == 0 || i == 3; };
    Dataset ds = read_dataset((tmp / "d.tsv").string(), o);
    ASSERT_EQ(ds.examples.size(), 2u);
    EXPECT_EQ(ds.examples[0].text_a, "first");
    EXPECT_EQ(ds.examples[1].text_a, "last");
    EXPECT_EQ(ds.examples[1].line, 6);
    // A part with no examples is not an error; a file with none is.
    o.keep = [](int64_t) { return false; };
    EXPECT_TRUE(read_dataset((tmp / "d.tsv").string(), o).examples.empty());
    write_bytes(tmp / "empty.tsv", "sentence\tlabel\n");
    EXPECT_THROW(count_examples((tmp / "empty.tsv").string(), {}), Error);
    EXPECT_THROW(count_examples((tmp / "missing.tsv").string(), {}), Error);
}

}  // namespace
}  // namespace fwsvd::testing
