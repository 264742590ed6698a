// Fuzzes the JSON Lines data reader (text / text pairs / pre-tokenized input_ids, labels) on
// in-memory input. The first input byte picks the options.
#include <sstream>

#include "fuzz/fuzz_util.h"
#include "runtime/dataset.h"
#include "runtime/error.h"

using namespace fwsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    DataOptions o;
    if (data[0] & 1) o.text_cols = {"text"};
    if (data[0] & 2) o.text_cols = {"a", "b"};
    if (data[0] & 4) o.label_col = "y";
    o.require_label = data[0] & 8;
    const DataFormat format = (data[0] & 16) ? DataFormat::sniff : DataFormat::jsonl;
    std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
    Dataset ds;
    try {
        ds = read_dataset(in, "fuzz.jsonl", format, o);
    } catch (const Error&) {
        return 0;
    }
    FWSVD_FUZZ_ASSERT(!ds.examples.empty());
    for (const Example& ex : ds.examples) {
        FWSVD_FUZZ_ASSERT(ex.line >= 1);
        if (ex.pretokenized) {
            FWSVD_FUZZ_ASSERT(!ex.input_ids.empty());
            FWSVD_FUZZ_ASSERT(ex.token_type_ids.empty() ||
                              ex.token_type_ids.size() == ex.input_ids.size());
            for (int32_t id : ex.input_ids) FWSVD_FUZZ_ASSERT(id >= 0);
        } else {
            FWSVD_FUZZ_ASSERT(find_invalid_utf8(ex.text_a) == std::string_view::npos);
            FWSVD_FUZZ_ASSERT(!ex.text_a.empty());
        }
        FWSVD_FUZZ_ASSERT(!o.require_label || ex.has_label);
        FWSVD_FUZZ_ASSERT(find_invalid_utf8(ex.label) == std::string_view::npos);
    }
    return 0;
}
