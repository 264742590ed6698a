// fwsvd bench: latency of Session::forward on random token ids (fixed seed) after a warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "kernels/cpu.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/parallel.h"
#include "tools/cli_common.h"

namespace fwsvd::cli {
namespace {

struct BenchArgs {
    std::string model_dir;
    int64_t seq = 128;
    int64_t batch = 1;
    int threads = 0;
    double seconds = 3.0;
    int64_t warmup = 10;
    bool json = false;
    std::string precision = "f32";
    Int8Flags int8;
};

// B sequences of `seq` random ids: [CLS]-like id first, then ids drawn from the vocabulary
// (std::mt19937_64, seed 1234, so every run and every build sees the same batch).
Batch random_batch(const ModelConfig& c, int64_t seq, int64_t batch) {
    std::mt19937_64 gen(1234);
    std::uniform_int_distribution<int32_t> id(0, int32_t(c.vocab_size - 1));
    Batch b;
    std::vector<int32_t> ids(static_cast<size_t>(seq)), types(static_cast<size_t>(seq), 0);
    for (int64_t s = 0; s < batch; ++s) {
        for (auto& v : ids) v = id(gen);
        b.add(ids.data(), types.data(), seq);
    }
    return b;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_command(const BenchArgs& a) {
    set_num_threads(a.threads);
    auto model = Model::load(a.model_dir);
    const ModelConfig& c = model->config();
    if (a.seq > c.max_position_embeddings) {
        throw Error(str_cat("--seq ", a.seq, " exceeds the model's ", c.max_position_embeddings,
                            " positions"),
                    ErrorKind::usage);
    }
    const Batch batch = random_batch(c, a.seq, a.batch);
    batch.validate(c, "bench input");

    using Clock = std::chrono::steady_clock;
    const auto t_setup = Clock::now();
    Session session(model, packed_options(a.precision, &a.int8));  // packs the weights
    const double setup_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - t_setup).count();
    report_precision(session.packed());
    const PackedModel& packed = session.packed();
    const bool int8 = packed.precision() == kernels::MatmulPrecision::int8;
    std::vector<float> logits(size_t(a.batch * c.num_labels()));
    for (int64_t i = 0; i < a.warmup; ++i) session.forward(batch, logits.data());

    std::vector<double> ms;
    const auto start = Clock::now();
    do {
        const auto t0 = Clock::now();
        session.forward(batch, logits.data());
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    } while (std::chrono::duration<double>(Clock::now() - start).count() < a.seconds ||
             ms.size() < 3);

    const double med = median(ms);
    const double best = *std::min_element(ms.begin(), ms.end());
    const double gflop = forward_flops(session.packed(), batch) * 1e-9;
    const int threads = num_threads();
    if (a.json) {
        nlohmann::ordered_json j;
        j["model"] = a.model_dir;
        j["seq"] = a.seq;
        j["batch"] = a.batch;
        j["threads"] = threads;
        j["runs"] = ms.size();
        j["median_ms"] = med;
        j["min_ms"] = best;
        j["gflop"] = gflop;
        j["gflops"] = gflop / (med * 1e-3);
        j["gflops_best"] = gflop / (best * 1e-3);
        j["tokens_per_s"] = double(batch.tokens()) / (med * 1e-3);
        j["setup_ms"] = setup_ms;
        j["packed_mb"] = double(session.packed().packed_bytes()) / (1024.0 * 1024.0);
        j["isa"] = kernels::isa_name(kernels::active_isa());
        j["precision"] = kernels::precision_name(session.packed().precision());
        if (int8) {
            const kernels::Int8Scheme& q = packed.int8_scheme();
            j["int8"] = {{"weight_max", q.weight_max},        {"activation_max", q.activation_max},
                         {"per_tensor", q.per_tensor},        {"vnni", kernels::int8_vnni()},
                         {"int8_gemms", packed.int8_gemms()}, {"f32_gemms", packed.f32_gemms()}};
        }
        std::cout << j.dump() << std::endl;
    } else {
        std::printf("%s: seq %lld, batch %lld, %d thread(s), %zu runs after %lld warm-up\n",
                    a.model_dir.c_str(), (long long)a.seq, (long long)a.batch, threads, ms.size(),
                    (long long)a.warmup);
        std::printf(
            "  median %.3f ms, min %.3f ms; %.3f GFLOP per forward: %.1f GFLOP/s (median), "
            "%.1f (min)\n",
            med, best, gflop, gflop / (med * 1e-3), gflop / (best * 1e-3));
        std::printf("  packing %.1f ms, %.1f MiB packed weights, kernels %s, %s matmuls\n",
                    setup_ms, double(session.packed().packed_bytes()) / (1024.0 * 1024.0),
                    kernels::isa_name(kernels::active_isa()),
                    kernels::precision_name(session.packed().precision()));
        if (int8) {
            const kernels::Int8Scheme& q = packed.int8_scheme();
            std::printf(
                "  int8: weights +-%d, activations 0..%d per %s; %lld int8 and %lld f32 "
                "encoder GEMMs; %s\n",
                q.weight_max, q.activation_max, q.per_tensor ? "tensor" : "row",
                (long long)packed.int8_gemms(), (long long)packed.f32_gemms(),
                2 * q.weight_max * q.activation_max > 32767
                    ? "8-bit codes (exact 32-bit sums: VNNI)"
                : kernels::int8_vnni()
                    ? "7-bit codes (oneDNN sums product pairs in 16 bits here)"
                    : "7-bit codes: no VNNI, product pairs sum in 16 bits (VPMADDUBSW)");
        }
    }
}

}  // namespace

void setup_bench(CLI::App* app) {
    auto a = std::make_shared<BenchArgs>();
    CLI::App* sub = app->add_subcommand(
        "bench", "Latency of the inference forward on random token ids (fixed seed)");
    sub->add_option("MODEL_DIR", a->model_dir, "Model folder")->required();
    sub->add_option("--seq", a->seq, "Tokens per sequence")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    sub->add_option("--batch", a->batch, "Sequences per forward")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(1), int64_t(1) << 16));
    sub->add_option("--threads", a->threads, "Threads (default: all cores, or OMP_NUM_THREADS)")
        ->check(CLI::Range(0, 1024));
    sub->add_option("--seconds", a->seconds, "Time to spend measuring (after the warm-up)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 3600.0));
    sub->add_option("--warmup", a->warmup, "Forwards run before measuring")
        ->capture_default_str()
        ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
    sub->add_flag("--json", a->json, "Print one JSON object instead of text");
    add_precision_option(sub, &a->precision);
    a->int8.add_to(sub);
    sub->callback([a] {
        int code = guarded([&] { bench_command(*a); });
        if (code != 0) throw CLI::RuntimeError(code);
    });
}

}  // namespace fwsvd::cli
