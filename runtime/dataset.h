// Task data files: GLUE-style TSV (header row, tab-separated, no quoting) or JSON Lines.
//
// TSV: text columns are found from the header (sentence1/sentence2, "#1 String"/"#2 String",
// question1/question2, question/sentence, premise/hypothesis, sentence, text) unless named;
// the label column is label, score, Quality or gold_label unless named.
// JSONL: one object per line with "text" (and optionally "text_pair"), or the GLUE column names,
// or pre-tokenized "input_ids" (and optionally "token_type_ids"); "label" is optional.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fwsvd {

struct Example {
    std::string text_a;
    std::string text_b;
    bool has_pair = false;
    std::vector<int32_t> input_ids;       // pre-tokenized input (then texts are empty)
    std::vector<int32_t> token_type_ids;  // optional with input_ids
    bool pretokenized = false;
    bool has_label = false;
    std::string label;  // as written in the file: an integer, a label name or a number
    int64_t line = 0;   // 1-based line in the file
};

struct DataOptions {
    std::vector<std::string> text_cols;  // empty: detect from the header
    std::string label_col;               // empty: detect
    bool require_label = false;          // every row must carry a label
};

struct Dataset {
    std::string source;  // the file name, for messages
    std::vector<Example> examples;
    std::string text_cols_used;  // e.g. "sentence1,sentence2", for reports
    std::string label_col_used;  // "" when the data has no labels
};

// Reads a .tsv or .jsonl file (by extension; anything else is sniffed: a first line starting
// with '{' means JSONL). "-" reads standard input. Throws Error naming file:line and the problem
// for malformed rows, missing columns, invalid UTF-8 and empty text.
Dataset read_dataset(const std::string& path, const DataOptions& options);

// Checks that s is valid UTF-8; throws Error(where + ": invalid UTF-8 at byte N") otherwise.
void check_utf8(std::string_view s, const std::string& where);

}  // namespace fwsvd
