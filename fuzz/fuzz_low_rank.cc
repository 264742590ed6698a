// Fuzzes the low-rank metadata of compressed checkpoints: config.json with a low_rank block,
// low_rank_ranks() and ParamLayout built with those ranks (and, separately, with whatever
// integers the block holds, unvalidated: the layout must refuse bad ones with an Error). Small
// accepted layouts are written as a checkpoint (config.json + model.safetensors of zeros) and
// loaded back with Model::load, which must then accept them.
#include "fuzz/fuzz_util.h"
#include "models/model.h"
#include "models/model_config.h"
#include "models/params.h"
#include "runtime/error.h"
#include "runtime/json_util.h"

using namespace fwsvd;

namespace {

void check_layout(const ParamLayout& layout) {
    int64_t end = 0;
    for (const auto& e : layout.entries()) {
        FWSVD_FUZZ_ASSERT(e.offset % 16 == 0 && e.offset >= end);
        FWSVD_FUZZ_ASSERT(e.numel >= 0);
        end = e.offset + e.numel;
        FWSVD_FUZZ_ASSERT(layout.find(e.name) == &e);
    }
    FWSVD_FUZZ_ASSERT(layout.total_floats() >= end);
    static float dummy[1];
    ModelParams p = layout.bind([](size_t) { return dummy; });
    FWSVD_FUZZ_ASSERT(int64_t(p.layers.size()) == layout.config().num_hidden_layers);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ModelConfig c;
    try {
        nlohmann::json j =
            parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "config.json");
        c = ModelConfig::from_json(j, "config.json");
    } catch (const Error&) {
        return 0;
    }
    // Keep each run fast: the layout has 16 entries per layer.
    if (c.num_hidden_layers > 64) return 0;

    // Unvalidated ranks straight from the JSON: ParamLayout must refuse or build a sane table.
    const nlohmann::json block = c.raw.value("low_rank", nlohmann::json());
    if (block.is_object() && block.contains("ranks") && block["ranks"].is_object()) {
        LayoutOptions raw;
        for (const auto& [k, v] : block["ranks"].items()) {
            if (v.is_number_integer()) raw.ranks[k] = v.get<int64_t>();
        }
        try {
            check_layout(ParamLayout(c, raw));
        } catch (const Error&) {
        }
    }

    LayoutOptions lo;
    try {
        lo.ranks = low_rank_ranks(c, "config.json");
    } catch (const Error&) {
        return 0;
    }
    ParamLayout layout;
    try {
        layout = ParamLayout(c, lo);
    } catch (const Error& e) {
        std::fprintf(stderr, "validated ranks refused by ParamLayout: %s\n", e.what());
        std::abort();
    }
    check_layout(layout);
    if (layout.total_floats() > 50000) return 0;

    // A consistent checkpoint on disk must load.
    const auto dir = fuzz::scratch_dir() / "model";
    std::filesystem::create_directories(dir);
    SafetensorsWriter w;
    for (const auto& e : layout.entries()) {
        Tensor t = Tensor::zeros(e.shape);
        w.add(e.name, t);
    }
    w.write(dir / "model.safetensors");
    nlohmann::json cj = c.to_json();
    cj.erase("architectures");
    fuzz::write_bytes(dir / "config.json", cj.dump());
    try {
        auto m = Model::load(dir);
        FWSVD_FUZZ_ASSERT(m->layout().entries().size() == layout.entries().size());
    } catch (const Error& e) {
        std::fprintf(stderr, "consistent checkpoint refused: %s\n", e.what());
        std::abort();
    }
    return 0;
}
