// Internal helpers of the tokenizers for reading tokenizer_config.json / tokenizer.json.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

}  // namespace fwsvd::tokenizer_json
