// Whole inference forwards (Session::forward): BERT-base-shaped random models, dense and
// factored at ranks 32/64/128/256, and bert-mini-sst2 from ../shared when present.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include "bench/bench_util.h"
#include "tests/random_model.h"
#include "models/session.h"

namespace fwsvd::bench {

ModelConfig bert_base_config() {
    ModelConfig c;  // the defaults are BERT-base's
    c.hidden_act = "gelu";
    c.set_num_labels(2);
    return c;
}

std::shared_ptr<const Model> random_bert(const ModelConfig& config, int64_t rank, uint64_t seed) {
    return testing::random_model(config, testing::uniform_ranks(config, rank), seed);
}

Batch random_batch(const ModelConfig& config, int64_t seq, int64_t batch, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int32_t> id(0, int32_t(config.vocab_size - 1));
    Batch b;
    std::vector<int32_t> ids(static_cast<size_t>(seq));
    for (int64_t s = 0; s < batch; ++s) {
        for (auto& v : ids) v = id(gen);
        b.add(ids.data(), nullptr, seq);
    }
    return b;
}

namespace {

// Models by id: 0 BERT-base dense, 1-4 BERT-base factored at ranks 32/64/128/256, 5 bert-mini.
constexpr int64_t kRanks[] = {0, 32, 64, 128, 256};

std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("FWSVD_SHARED_DIR"); env && *env) return env;
    return std::filesystem::path(FWSVD_SOURCE_DIR) / ".." / "shared";
}

// One Session per model, kept for the whole run (the packed weights and workspace persist).
Session* session_of(int64_t id, std::string* name) {
    static std::mutex mutex;
    static std::map<int64_t, std::unique_ptr<Session>> sessions;
    std::lock_guard<std::mutex> lock(mutex);
    if (id == 5) {
        *name = "bert-mini-sst2";
    } else {
        *name = id == 0 ? "base-dense" : "base-r" + std::to_string(kRanks[id]);
    }
    auto it = sessions.find(id);
    if (it != sessions.end()) return it->second.get();
    std::shared_ptr<const Model> model;
    if (id == 5) {
        const auto dir = shared_dir() / "models" / "bert-mini-sst2";
        if (!std::filesystem::exists(dir / "model.safetensors")) return nullptr;
        model = Model::load(dir);
    } else {
        model = random_bert(bert_base_config(), kRanks[id]);
    }
    return sessions.emplace(id, std::make_unique<Session>(model)).first->second.get();
}

// Times session.forward on a random batch after two warm-up calls (workspace, primitives).
void time_forwards(benchmark::State& st, Session& session, int64_t seq, int64_t batch,
                   int threads) {
    set_threads(threads);
    const Batch b = random_batch(session.model().config(), seq, batch);
    std::vector<float> logits(size_t(batch * session.model().config().num_labels()));
    for (int i = 0; i < 2; ++i) session.forward(b, logits.data());
    FlopTimer timer(st, forward_flops(session.packed(), b), threads,
                    session.packed().precision() == kernels::MatmulPrecision::bf16,
                    session.packed().precision() == kernels::MatmulPrecision::int8);
    for (auto _ : st) {
        timer.start();
        session.forward(b, logits.data());
        timer.stop();
    }
}

void skip_missing_mini(benchmark::State& st) {
    st.SkipWithError("bert-mini-sst2 not found under FWSVD_SHARED_DIR / ../shared");
}

void BM_BertForward(benchmark::State& st) {
    std::string name;
    Session* session = session_of(st.range(0), &name);
    if (!session) return skip_missing_mini(st);
    st.SetLabel(name);
    time_forwards(st, *session, st.range(1), st.range(2), int(st.range(3)));
}
BENCHMARK(BM_BertForward)
    ->ArgNames({"model", "seq", "batch", "threads"})
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {32, 128, 512}, {1, 8}, {1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Model `id`'s weights packed with `options` (variant `on` or off of one option), one Session
// per (id, on) kept for the run; null when the model is missing.
using VariantSessions = std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Session>>;
Session* variant_session(VariantSessions& sessions, int64_t id, int64_t on,
                         const PackedOptions& options, std::string* name) {
    Session* shared = session_of(id, name);
    if (!shared) return nullptr;
    auto& session = sessions[{id, on}];
    if (!session) {
        session =
            std::make_unique<Session>(PackedModel::build(shared->packed().shared_model(), options));
    }
    return session.get();
}

// GELU as oneDNN's eltwise_gelu_erf post-op of the intermediate GEMM against fwsvd's inference
// GELU (kernels::gelu_inference_forward) run over the intermediate output after it.
void BM_BertGelu(benchmark::State& st) {
    static VariantSessions sessions;
    const bool fused = st.range(1) != 0;
    PackedOptions options;
    options.fuse_gelu = fused;
    std::string name;
    Session* session = variant_session(sessions, st.range(0), fused, options, &name);
    if (!session) return skip_missing_mini(st);
    st.SetLabel(name + (fused ? ", GELU post-op" : ", inference GELU kernel"));
    time_forwards(st, *session, st.range(2), st.range(3), int(st.range(4)));
}
BENCHMARK(BM_BertGelu)
    ->ArgNames({"model", "fused", "seq", "batch", "threads"})
    ->ArgsProduct({{0, 2}, {1, 0}, {128}, {1, 8}, {1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The encoder in one parallel region (each thread on its own rows; PackedOptions'
// region_max_layer_bytes unlimited) against oneDNN's own split of every GEMM (0), for the models
// of BM_BertForward: where each wins decides the default threshold.
void BM_BertRegion(benchmark::State& st) {
    static VariantSessions sessions;
    const bool region = st.range(1) != 0;
    const bool bf16 = st.range(5) != 0;
    if (skip_without_bf16(st, bf16)) return;
    PackedOptions options;
    options.region_max_layer_bytes = region ? SIZE_MAX : 0;
    options.precision = bf16 ? kernels::MatmulPrecision::bf16 : kernels::MatmulPrecision::f32;
    std::string name;
    Session* session = variant_session(sessions, st.range(0), region + 2 * bf16, options, &name);
    if (!session) return skip_missing_mini(st);
    st.SetLabel(name + (region ? ", one region" : ", oneDNN's split") + (bf16 ? ", bf16" : ""));
    time_forwards(st, *session, st.range(2), st.range(3), int(st.range(4)));
}
BENCHMARK(BM_BertRegion)
    ->ArgNames({"model", "region", "seq", "batch", "threads", "bf16"})
    ->ArgsProduct({{0, 2, 3, 4, 5}, {1, 0}, {128}, {1}, {2}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Per-head merges of factored attention projections (PackedOptions): merge 0 none, 1 value
// and output (the A_o GEMM saved), 2 query and key (the B_k GEMM saved), 3 both (the default),
// for BERT-base at ranks 32 and 64.
void BM_BertMerge(benchmark::State& st) {
    static VariantSessions sessions;
    const int64_t merge = st.range(1);
    PackedOptions options;
    options.merge_value_output = (merge & 1) != 0;
    options.merge_query_key = (merge & 2) != 0;
    std::string name;
    Session* session = variant_session(sessions, st.range(0), merge, options, &name);
    if (!session) return skip_missing_mini(st);
    const char* labels[4] = {", no merge", ", V/O merged", ", Q/K merged", ", V/O and Q/K merged"};
    st.SetLabel(name + labels[merge & 3]);
    time_forwards(st, *session, st.range(2), st.range(3), int(st.range(4)));
}
BENCHMARK(BM_BertMerge)
    ->ArgNames({"model", "merge", "seq", "batch", "threads"})
    ->ArgsProduct({{1, 2}, {0, 1, 2, 3}, {128}, {1}, {1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// The encoder's linear layers in f32 (0), bf16 (1) or int8 (2; PackedOptions::precision) for
// the models of BM_BertForward (0 BERT-base dense, 2 its rank 64, 5 bert-mini-sst2); int8 with
// per-tensor activations (3) and, for factored layers, the second factor in f32 (4).
void BM_BertPrecision(benchmark::State& st) {
    static VariantSessions sessions;
    const int64_t precision = st.range(1);
    const bool bf16 = precision == 1;
    if (skip_without_bf16(st, bf16)) return;
    PackedOptions options;
    options.precision = precision >= 2 ? kernels::MatmulPrecision::int8
                        : bf16         ? kernels::MatmulPrecision::bf16
                                       : kernels::MatmulPrecision::f32;
    options.int8.per_tensor = precision == 3;
    options.int8.middle_f32 = precision == 4;
    std::string name;
    Session* session = variant_session(sessions, st.range(0), precision, options, &name);
    if (!session) return skip_missing_mini(st);
    const char* labels[] = {", f32", ", bf16", ", int8", ", int8 per-tensor", ", int8 middle f32"};
    st.SetLabel(name + labels[precision]);
    time_forwards(st, *session, st.range(2), st.range(3), int(st.range(4)));
}
BENCHMARK(BM_BertPrecision)
    ->ArgNames({"model", "precision", "seq", "batch", "threads"})
    ->ArgsProduct({{0, 2, 5}, {0, 1, 2, 3}, {128}, {1, 8}, {1, 2}})
    ->ArgsProduct({{2}, {4}, {128}, {1, 8}, {1, 2}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_Int8Peak(benchmark::State& st) {
    const int threads = int(st.range(0));
    for (auto _ : st) benchmark::DoNotOptimize(peak_gops_int8(threads));
    st.counters["GOP/s"] = peak_gops_int8(threads);
    st.counters["f32 GFLOP/s"] = peak_gflops(threads);
}
BENCHMARK(BM_Int8Peak)->ArgName("threads")->Arg(1)->Arg(2)->Iterations(1);

}  // namespace
}  // namespace fwsvd::bench
