// Fuzzes config.json: ModelConfig::from_json on arbitrary bytes. An accepted config must survive
// to_json -> from_json unchanged in every field fwsvd uses.
#include "fuzz/fuzz_util.h"
#include "models/model_config.h"
#include "runtime/error.h"
#include "runtime/json_util.h"

using namespace fwsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ModelConfig c;
    try {
        nlohmann::json j =
            parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "config.json");
        c = ModelConfig::from_json(j, "config.json");
    } catch (const Error&) {
        return 0;
    }
    FWSVD_FUZZ_ASSERT(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0);
    FWSVD_FUZZ_ASSERT(c.num_labels() >= 1);
    (void)c.head_dim();
    (void)c.is_regression();
    for (const auto& [name, id] : c.label2id) FWSVD_FUZZ_ASSERT(id >= 0 && id < c.num_labels());
    ModelConfig back;
    try {
        back = ModelConfig::from_json(c.to_json(), "roundtrip");
    } catch (const Error& e) {
        std::fprintf(stderr, "round trip refused: %s\n", e.what());
        std::abort();
    }
    FWSVD_FUZZ_ASSERT(back.vocab_size == c.vocab_size && back.hidden_size == c.hidden_size);
    FWSVD_FUZZ_ASSERT(back.num_hidden_layers == c.num_hidden_layers);
    FWSVD_FUZZ_ASSERT(back.num_attention_heads == c.num_attention_heads);
    FWSVD_FUZZ_ASSERT(back.intermediate_size == c.intermediate_size);
    FWSVD_FUZZ_ASSERT(back.id2label == c.id2label && back.label2id == c.label2id);
    FWSVD_FUZZ_ASSERT(back.problem_type == c.problem_type && back.hidden_act == c.hidden_act);
    FWSVD_FUZZ_ASSERT(back.max_position_embeddings == c.max_position_embeddings);
    FWSVD_FUZZ_ASSERT(back.is_regression() == c.is_regression());
    return 0;
}
