// JSON from files fwsvd does not control: nesting depth bounded before parsing (nlohmann's
// parser is iterative, but copying, comparing and dumping a value recurse, so a document nested
// 100,000 levels deep would overflow the stack), and short descriptions for error messages.
#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fwsvd {

// Deeper documents are refused (Hugging Face's files nest 5 levels at most).
inline constexpr int kMaxJsonDepth = 256;

// Parses text as one JSON document. Throws Error "<where>: not valid JSON: ..." or "<where>:
// JSON nested deeper than 256 levels".
nlohmann::json parse_json(std::string_view text, const std::string& where);

// A short description of a value for messages, without recursing: scalars as JSON (strings cut
// after 60 characters), arrays and objects as "an array of N values" / "an object of N keys".
std::string json_brief(const nlohmann::json& value);

}  // namespace fwsvd
