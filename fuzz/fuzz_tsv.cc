// Fuzzes the TSV data reader (GLUE header, tab-separated rows) on in-memory input. The first
// input byte picks the options (named text columns, label column, labels required).
#include <sstream>

#include "fuzz/fuzz_util.h"
#include "runtime/dataset.h"
#include "runtime/error.h"

using namespace fwsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    DataOptions o;
    if (data[0] & 1) o.text_cols = {"sentence"};
    if (data[0] & 2) o.text_cols = {"a", "b"};
    if (data[0] & 4) o.label_col = "y";
    o.require_label = data[0] & 8;
    std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    Dataset ds;
    try {
        ds = read_dataset(in, "fuzz.tsv", DataFormat::tsv, o);
    } catch (const Error&) {
        return 0;
    }
    FWSVD_FUZZ_ASSERT(!ds.examples.empty());
    int64_t last = 0;
    for (const Example& ex : ds.examples) {
        FWSVD_FUZZ_ASSERT(ex.line > last);
        last = ex.line;
        FWSVD_FUZZ_ASSERT(find_invalid_utf8(ex.text_a) == std::string_view::npos);
        FWSVD_FUZZ_ASSERT(find_invalid_utf8(ex.text_b) == std::string_view::npos);
        FWSVD_FUZZ_ASSERT(!ex.text_a.empty() && (!ex.has_pair || !ex.text_b.empty()));
        FWSVD_FUZZ_ASSERT(!o.require_label || ex.has_label);
    }
    return 0;
}
