// Internal helpers of the tokenizers for reading tokenizer_config.json / tokenizer.json.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/tokenizer_pipeline.h"

namespace fwsvd::tokenizer_json {

// Parses a JSON file; Error naming it when it cannot be read or parsed, or is not an object.
nlohmann::json read_object(const std::filesystem::path& file);

// obj[key] as a bool: nullopt when absent or null; Error naming file when of another type.
std::optional<bool> get_bool(const nlohmann::json& obj, std::string_view key,
                             const std::filesystem::path& file);

// obj[key] as an integer: nullopt when absent or null; Error naming file otherwise.
std::optional<int64_t> get_int(const nlohmann::json& obj, std::string_view key,
                               const std::filesystem::path& file);

// obj[key] as a token string: a JSON string or an AddedToken object {"content": ...};
// nullopt when absent or null; Error naming file otherwise.
std::optional<std::string> get_token(const nlohmann::json& obj, std::string_view key,
                                     const std::filesystem::path& file);

// Decodes standard base64 (with '=' padding); false when malformed.
bool base64_decode(std::string_view in, std::string& out);

// A tokenizer.json read into its components (runtime/tokenizer_json.cc).
struct ParsedTokenizerJson {
    pipeline::PipelineParts parts;
    std::string normalizer_type;                // "" when none
    std::string pre_tokenizer_type;             // "" when none
    std::string model_type;                     // "WordPiece", "BPE", "Unigram"
    std::vector<std::string> vocab_tokens;      // id -> token, for WordPiece
    std::optional<PostTemplate> post_template;  // the post-processor's (texts only when none)
};

// Parses file; Error naming it and the component for malformed or unsupported content.
ParsedTokenizerJson parse_tokenizer_json(const std::filesystem::path& file);

}  // namespace fwsvd::tokenizer_json
