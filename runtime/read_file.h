// Reading a whole input file (config.json, vocab.txt, tokenizer files) defensively: only regular
// files (opening a FIFO does not block), a size limit, errors naming the file.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace fwsvd {

// Limits for the files read whole: JSON configs, and vocabularies / tokenizer.json.
inline constexpr size_t kMaxConfigBytes = size_t(64) << 20;
inline constexpr size_t kMaxTokenizerBytes = size_t(256) << 20;

// The content of path. Throws Error "<path>: <what> not found" (invalid input) when absent,
// "<path>: is a folder, expected <what>" / "is not a regular file" / "is N bytes, more than the
// limit", and Error(io) when the system refuses to open or read it.
std::string read_file(const std::filesystem::path& path, size_t max_bytes, std::string_view what);

}  // namespace fwsvd
