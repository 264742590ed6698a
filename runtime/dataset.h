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
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "runtime/utf8.h"  // check_utf8, find_invalid_utf8

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
    int64_t index = 0;  // 0-based among the file's examples (blank lines are not examples)
};

struct DataOptions {
    std::vector<std::string> text_cols;  // empty: detect from the header
    std::string label_col;               // empty: detect
    bool require_label = false;          // every row must carry a label
    // When set, only the examples whose index it accepts are parsed and kept (a shard of the
    // file, read without holding the rest); the others are counted only.
    std::function<bool(int64_t index)> keep;
};

struct Dataset {
    std::string source;  // the file name, for messages
    std::vector<Example> examples;
    std::string text_cols_used;  // e.g. "sentence1,sentence2", for reports
    std::string label_col_used;  // "" when the data has no labels
    int64_t total = 0;           // examples in the file, kept or not
};

// Reads a .tsv or .jsonl file (by extension; anything else, standard input included, is sniffed:
// a first non-blank character '{' means JSONL). "-" reads standard input; pipes work (the file is
// opened and read once). Throws Error naming file:line and the problem for malformed rows,
// missing columns, invalid UTF-8, empty text and lines over 16 MB.
Dataset read_dataset(const std::string& path, const DataOptions& options);

enum class DataFormat { tsv, jsonl, sniff };
// The same from a stream already open (in-memory data, tests, fuzzing); `source` names it in
// messages. The stream is read to its end; a read error is Error(io).
Dataset read_dataset(std::istream& in, const std::string& source, DataFormat format,
                     const DataOptions& options);

// The number of examples in a data file, read through without keeping any (the header of a TSV
// is checked, the rows are not).
int64_t count_examples(const std::string& path, const DataOptions& options);

// Lines longer than this are refused (a sentence pair is a few KB; 16 MB is clearly not text).
inline constexpr size_t kMaxDataLine = size_t(16) << 20;

}  // namespace fwsvd
