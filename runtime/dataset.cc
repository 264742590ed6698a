#include "runtime/dataset.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/error.h"
#include "runtime/json_util.h"

namespace fwsvd {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t tab = line.find('\t', start);
        if (tab == std::string::npos) {
            out.push_back(line.substr(start));
            return out;
        }
        out.push_back(line.substr(start, tab - start));
        start = tab + 1;
    }
}

bool is_blank(std::string_view s) {
    for (char c : s) {
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v') return false;
    }
    return true;
}

const std::vector<std::vector<std::string>>& text_column_candidates() {
    static const std::vector<std::vector<std::string>> c = {{"sentence1", "sentence2"},
                                                            {"#1 String", "#2 String"},
                                                            {"question1", "question2"},
                                                            {"question", "sentence"},
                                                            {"premise", "hypothesis"},
                                                            {"text", "text_pair"},
                                                            {"sentence"},
                                                            {"text"}};
    return c;
}
const std::vector<std::string>& label_column_candidates() {
    static const std::vector<std::string> c = {"label", "score", "Quality", "gold_label"};
    return c;
}

// Lines of a stream, read in blocks so that a line over kMaxDataLine is refused before it is
// held whole (std::getline would first read a 10 GB line without a newline into memory).
class LineReader {
  public:
    LineReader(std::istream& in, const std::string& source) : in_(in), source_(source) {}

    // The next line without its "\n" (and "\r"); false at the end of the stream.
    bool next(std::string* line) {
        line->clear();
        bool got = false;
        while (true) {
            if (pos_ == end_ && !refill()) break;
            const char* b = buf_.data() + pos_;
            const auto* nl = static_cast<const char*>(std::memchr(b, '\n', end_ - pos_));
            const size_t take = nl ? size_t(nl - b) : end_ - pos_;
            if (line->size() + take > kMaxDataLine) {
                throw Error(str_cat(source_, ":", line_no_ + 1, ": line longer than the limit of ",
                                    kMaxDataLine, " bytes"));
            }
            line->append(b, take);
            pos_ += take;
            got = true;
            if (nl) {
                ++pos_;
                break;
            }
        }
        if (!got) return false;
        ++line_no_;
        if (!line->empty() && line->back() == '\r') line->pop_back();
        return true;
    }

    // The first character that is not blank, without consuming anything; EOF when none is in
    // the first block.
    int peek_first_non_blank() {
        if (pos_ == end_ && !refill()) return EOF;
        for (size_t i = pos_; i < end_; ++i) {
            const char c = buf_[i];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                return static_cast<unsigned char>(c);
            }
        }
        return EOF;
    }

    int64_t line_no() const { return line_no_; }

  private:
    bool refill() {
        if (eof_) return false;
        in_.read(buf_.data(), std::streamsize(buf_.size()));
        const size_t n = size_t(in_.gcount());
        if (in_.bad()) throw Error(str_cat(source_, ": read failed"), ErrorKind::io);
        pos_ = 0;
        end_ = n;
        if (n == 0) eof_ = true;
        return n > 0;
    }

    std::istream& in_;
    std::string source_;
    std::vector<char> buf_ = std::vector<char>(size_t(1) << 16);
    size_t pos_ = 0, end_ = 0;
    bool eof_ = false;
    int64_t line_no_ = 0;
};

void check_text(const std::string& text, const std::string& where, const std::string& col) {
    check_utf8(text, str_cat(where, ": '", col, "'"));
    if (is_blank(text)) throw Error(str_cat(where, ": empty text in '", col, "'"));
}

Dataset read_tsv(LineReader& reader, const std::string& path, const DataOptions& opt) {
    Dataset ds;
    ds.source = path;
    std::string line;
    if (!reader.next(&line)) throw Error(str_cat(path, ": empty file (expected a header row)"));
    check_utf8(line, path + ":1: header");
    if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    std::vector<std::string> header = split_tabs(line);
    auto col_index = [&](const std::string& name) -> int {
        for (size_t i = 0; i < header.size(); ++i) {
            if (header[i] == name) return int(i);
        }
        return -1;
    };
    std::vector<int> text_idx;
    std::vector<std::string> text_names;
    if (!opt.text_cols.empty()) {
        FWSVD_CHECK(opt.text_cols.size() <= 2, "--text-cols takes one or two columns");
        for (const auto& c : opt.text_cols) {
            int i = col_index(c);
            FWSVD_CHECK(i >= 0, path, ": header has no column '", c, "' (columns: ", line, ")");
            text_idx.push_back(i);
            text_names.push_back(c);
        }
    } else {
        for (const auto& cand : text_column_candidates()) {
            std::vector<int> idx;
            for (const auto& c : cand) idx.push_back(col_index(c));
            bool all = true;
            for (int i : idx) all = all && i >= 0;
            if (all) {
                text_idx = idx;
                text_names = cand;
                break;
            }
        }
        FWSVD_CHECK(!text_idx.empty(), path,
                    ": cannot find the text column(s) in the header (looked for sentence, "
                    "sentence1/sentence2, #1 String/#2 String, question/sentence, text; name them "
                    "with --text-cols). Header: ",
                    line);
    }
    int label_idx = -1;
    if (!opt.label_col.empty()) {
        label_idx = col_index(opt.label_col);
        FWSVD_CHECK(label_idx >= 0, path, ": header has no label column '", opt.label_col, "'");
        ds.label_col_used = opt.label_col;
    } else {
        for (const auto& c : label_column_candidates()) {
            label_idx = col_index(c);
            if (label_idx >= 0) {
                ds.label_col_used = c;
                break;
            }
        }
    }
    if (opt.require_label && label_idx < 0) {
        throw Error(str_cat(path,
                            ": no label column (label, score, Quality, gold_label; name it "
                            "with --label-col). Header: ",
                            line));
    }
    for (size_t i = 0; i < text_names.size(); ++i) {
        ds.text_cols_used += (i ? "," : "") + text_names[i];
    }
    while (reader.next(&line)) {
        const std::string where = str_cat(path, ":", reader.line_no());
        if (line.empty()) continue;
        const int64_t index = ds.total++;
        if (opt.keep && !opt.keep(index)) continue;
        std::vector<std::string> cols = split_tabs(line);
        if (cols.size() != header.size()) {
            throw Error(str_cat(where, ": expected ", header.size(),
                                " tab-separated columns as "
                                "the header has, found ",
                                cols.size()));
        }
        Example ex;
        ex.line = reader.line_no();
        ex.index = index;
        check_text(cols[text_idx[0]], where, text_names[0]);
        ex.text_a = cols[text_idx[0]];
        if (text_idx.size() == 2) {
            check_text(cols[text_idx[1]], where, text_names[1]);
            ex.text_b = cols[text_idx[1]];
            ex.has_pair = true;
        }
        if (label_idx >= 0) {
            ex.label = cols[label_idx];
            check_utf8(ex.label, str_cat(where, ": '", ds.label_col_used, "'"));
            FWSVD_CHECK(!is_blank(ex.label), where, ": empty label in '", ds.label_col_used, "'");
            ex.has_label = true;
        }
        ds.examples.push_back(std::move(ex));
    }
    return ds;
}

std::vector<int32_t> read_id_array(const nlohmann::json& v, const std::string& where,
                                   const char* key) {
    FWSVD_CHECK(v.is_array(), where, ": '", key, "' is not an array of integers");
    std::vector<int32_t> out;
    out.reserve(v.size());
    for (const auto& x : v) {
        FWSVD_CHECK(x.is_number_integer(), where, ": '", key, "' holds a non-integer");
        int64_t id = x.get<int64_t>();
        FWSVD_CHECK(id >= 0 && id < (int64_t(1) << 31), where, ": '", key, "' holds ", id,
                    ", out of range");
        out.push_back(int32_t(id));
    }
    return out;
}

Dataset read_jsonl(LineReader& reader, const std::string& path, const DataOptions& opt) {
    Dataset ds;
    ds.source = path;
    FWSVD_CHECK(opt.text_cols.size() <= 2, "--text-cols takes one or two fields");
    std::string line;
    while (reader.next(&line)) {
        const std::string where = str_cat(path, ":", reader.line_no());
        if (is_blank(line)) continue;
        const int64_t index = ds.total++;
        if (opt.keep && !opt.keep(index)) continue;
        check_utf8(line, where);
        const nlohmann::json j = parse_json(line, where);
        FWSVD_CHECK(j.is_object(), where, ": each line must be a JSON object, found ",
                    json_brief(j));
        Example ex;
        ex.line = reader.line_no();
        ex.index = index;
        if (j.contains("input_ids")) {
            ex.input_ids = read_id_array(j["input_ids"], where, "input_ids");
            FWSVD_CHECK(!ex.input_ids.empty(), where, ": 'input_ids' is empty");
            if (j.contains("token_type_ids")) {
                ex.token_type_ids = read_id_array(j["token_type_ids"], where, "token_type_ids");
                FWSVD_CHECK(ex.token_type_ids.size() == ex.input_ids.size(), where,
                            ": 'token_type_ids' has ", ex.token_type_ids.size(),
                            " entries but 'input_ids' has ", ex.input_ids.size());
            }
            ex.pretokenized = true;
            if (ds.text_cols_used.empty()) ds.text_cols_used = "input_ids";
        } else {
            std::vector<std::string> names = opt.text_cols;
            if (names.empty()) {
                for (const auto& cand : text_column_candidates()) {
                    bool all = true;
                    for (const auto& c : cand) all = all && j.contains(c);
                    if (all) {
                        names = cand;
                        break;
                    }
                }
                // "text" alone is also a candidate after pairs; handled by the list order.
            }
            FWSVD_CHECK(!names.empty(), where,
                        ": no text field (text, text_pair, sentence, sentence1/sentence2, ...) "
                        "and no input_ids");
            for (size_t i = 0; i < names.size(); ++i) {
                FWSVD_CHECK(j.contains(names[i]), where, ": missing field '", names[i], "'");
                FWSVD_CHECK(j[names[i]].is_string(), where, ": field '", names[i],
                            "' is not a string");
                const std::string text = j[names[i]].get<std::string>();
                check_text(text, where, names[i]);
                if (i == 0) {
                    ex.text_a = text;
                } else {
                    ex.text_b = text;
                    ex.has_pair = true;
                }
            }
            if (ds.text_cols_used.empty()) {
                for (size_t i = 0; i < names.size(); ++i) {
                    ds.text_cols_used += (i ? "," : "") + names[i];
                }
            }
        }
        const std::string label_key = opt.label_col.empty() ? "label" : opt.label_col;
        if (j.contains(label_key) && !j[label_key].is_null()) {
            const auto& l = j[label_key];
            if (l.is_string()) {
                ex.label = l.get<std::string>();
            } else if (l.is_number_integer()) {
                ex.label = std::to_string(l.get<int64_t>());
            } else if (l.is_number()) {
                std::ostringstream os;
                os.precision(17);
                os << l.get<double>();
                ex.label = os.str();
            } else {
                throw Error(str_cat(where, ": '", label_key, "' is not a number or a string"));
            }
            ex.has_label = true;
            ds.label_col_used = label_key;
        } else if (opt.require_label) {
            throw Error(str_cat(where, ": missing '", label_key, "'"));
        }
        ds.examples.push_back(std::move(ex));
    }
    return ds;
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

DataFormat format_from_name(const std::string& path) {
    if (ends_with(path, ".jsonl") || ends_with(path, ".json") || ends_with(path, ".ndjson")) {
        return DataFormat::jsonl;
    }
    if (ends_with(path, ".tsv") || ends_with(path, ".txt")) return DataFormat::tsv;
    return DataFormat::sniff;
}

}  // namespace

Dataset read_dataset(std::istream& in, const std::string& source, DataFormat format,
                     const DataOptions& options) {
    LineReader reader(in, source);
    if (format == DataFormat::sniff) {
        format = reader.peek_first_non_blank() == '{' ? DataFormat::jsonl : DataFormat::tsv;
    }
    Dataset ds = format == DataFormat::jsonl ? read_jsonl(reader, source, options)
                                             : read_tsv(reader, source, options);
    FWSVD_CHECK(ds.total > 0, source, ": no examples");
    return ds;
}

Dataset read_dataset(const std::string& path, const DataOptions& options) {
    if (path == "-") return read_dataset(std::cin, "standard input", DataFormat::sniff, options);
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(st)) throw Error(str_cat(path, ": data file not found"));
    if (std::filesystem::is_directory(st)) {
        throw Error(str_cat(path, ": is a folder, expected a data file"));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(str_cat(path, ": cannot open data file: ", std::strerror(errno)),
                    ErrorKind::io);
    }
    return read_dataset(in, path, format_from_name(path), options);
}

int64_t count_examples(const std::string& path, const DataOptions& options) {
    DataOptions o = options;
    o.keep = [](int64_t) { return false; };
    return read_dataset(path, o).total;
}

}  // namespace fwsvd
