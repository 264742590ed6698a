#include "runtime/json_util.h"

#include "runtime/error.h"

namespace fwsvd {

nlohmann::json parse_json(std::string_view text, const std::string& where) {
    // Depth of [ and { outside strings; malformed text is left to the parser to describe.
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) {
                throw Error(str_cat(where, ": JSON nested deeper than ", kMaxJsonDepth,
                                    " levels (at byte ", i, ")"));
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    try {
        return nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        throw Error(str_cat(where, ": not valid JSON: ", e.what()));
    }
}

std::string json_brief(const nlohmann::json& value) {
    if (value.is_array()) return str_cat("an array of ", value.size(), " values");
    if (value.is_object()) return str_cat("an object of ", value.size(), " keys");
    if (value.is_string()) {
        const std::string& s = value.get_ref<const std::string&>();
        if (s.size() > 60) {
            // Cut on a UTF-8 boundary so that the message stays valid UTF-8.
            size_t cut = 60;
            while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
            return nlohmann::json(s.substr(0, cut)).dump() + "...";
        }
    }
    return value.dump();
}

}  // namespace fwsvd
