#include "compressor/stats_sources.h"

#include <algorithm>
#include <cmath>

#include "kernels/gemm.h"
#include "models/encoder_layer.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {

namespace {

bool is_fisher_target(const ParamEntry& e, bool all) {
    if (all) return true;
    // The encoder's linear weights (dense, or both factors of a factored layer).
    return (e.kind == ParamKind::linear_weight || e.kind == ParamKind::linear_factor) &&
           is_layer_role(e.role);
}

// Σ over examples of each example's squared gradient. A batch's per-example gradients come from
// one backward in per_example_squares mode. A layout with shared parameters needs each example's
// gradient summed over the parameter's uses before squaring: its batches hold one example, whose
// gradient a sum-mode backward writes into a scratch buffer that is then squared.
// The sums are float32 running sums, or (f64) each batch's float32 sum added into float64 sums,
// which do not depend on how the batches are split between ranks.
class FisherSource final : public StatsSource {
  public:
    FisherSource(const ParamLayout& layout, bool all, bool f64)
        : layout_(layout), all_(all), shared_(layout.has_shared()), f64_(f64) {
        acc_ = Tensor::zeros({layout.total_floats()});
        if (f64_) acc64_.assign(size_t(layout.total_floats()), 0.0);
        if (shared_) grad_ = Tensor::zeros({layout.total_floats()});
        float* base = (shared_ ? grad_ : acc_).data<float>();
        const auto& entries = layout.entries();
        grads_ = layout.bind([&](size_t i) -> float* {
            return is_fisher_target(entries[i], all_) ? base + entries[i].offset : nullptr;
        });
    }

    void add(const StatsBatch& b) override {
        if (!f64_) {
            add_to_acc(b);
            return;
        }
        float* acc = acc_.data<float>();
        for_targets([&](int64_t i0, int64_t i1) { std::fill(acc + i0, acc + i1, 0.0f); });
        add_to_acc(b);
        for_targets([&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) acc64_[size_t(i)] += double(acc[i]);
        });
    }

    void reduce(Comm& comm) override {
        FWSVD_CHECK(f64_, "internal: a distributed Fisher needs float64 sums");
        for_targets(
            [&](int64_t i0, int64_t i1) { comm.allreduce_sum(acc64_.data() + i0, i1 - i0); });
    }

    void finish(Stats& out, int64_t examples) override {
        const float inv_n = 1.0f / float(examples);
        for (const auto& e : layout_.entries()) {
            if (!is_fisher_target(e, all_)) continue;
            Tensor t = Tensor::zeros(e.shape);
            if (f64_) {
                const double* src = acc64_.data() + e.offset;
                for (int64_t i = 0; i < e.numel; ++i) {
                    t.data<float>()[i] = float(src[i] / double(examples));
                }
            } else {
                const float* src = acc_.data<float>() + e.offset;
                for (int64_t i = 0; i < e.numel; ++i) t.data<float>()[i] = src[i] * inv_n;
            }
            out.fisher[e.name] = std::move(t);
        }
    }

  private:
    // f(begin, end) over the flat ranges of the parameters whose Fisher is collected.
    template <typename F>
    void for_targets(F&& f) const {
        for (const auto& e : layout_.entries()) {
            if (is_fisher_target(e, all_)) f(e.offset, e.offset + e.numel);
        }
    }

    void add_to_acc(const StatsBatch& b) {
        // Each example's own loss: dloss = 1 per example.
        ones_.assign(size_t(b.batch.size()), 1.0f);
        if (!shared_) {
            model_backward(grads_, b.model.params(), layout_, b.batch, b.acts, b.targets,
                           ones_.data(), GradMode::per_example_squares, ws_);
            return;
        }
        FWSVD_CHECK(b.batch.size() == 1, "internal: shared parameters need one example per batch");
        float* g = grad_.data<float>();
        std::fill(g, g + layout_.total_floats(), 0.0f);
        model_backward(grads_, b.model.params(), layout_, b.batch, b.acts, b.targets, ones_.data(),
                       GradMode::sum, ws_);
        float* acc = acc_.data<float>();
        for (const auto& e : layout_.entries()) {
            if (!is_fisher_target(e, all_)) continue;
            for (int64_t i = e.offset; i < e.offset + e.numel; ++i) acc[i] += g[i] * g[i];
        }
    }

  private:
    const ParamLayout& layout_;
    bool all_;
    bool shared_;
    bool f64_;
    Tensor acc_, grad_;          // [total_floats]: the sums (f32) or this batch's sums (f64)
    std::vector<double> acc64_;  // [total_floats] with f64
    ModelParams grads_;
    BackwardWorkspace ws_;
    std::vector<float> ones_;
};

// Σ |x| and Σ x xᵀ over the input rows of every distinct linear-layer input (per layer group and
// LayerInput), in double; a shared group adds the rows of every layer that uses it.
class InputSource final : public StatsSource {
  public:
    InputSource(const ModelConfig& config, bool cov) : config_(config), cov_(cov) {
        for (int64_t g = 0; g < config.num_layer_groups(); ++g) {
            for (LayerInput in : {LayerInput::layer_input, LayerInput::context,
                                  LayerInput::attention_output, LayerInput::intermediate}) {
                Sums s;
                s.width =
                    in == LayerInput::intermediate ? config.intermediate_size : config.hidden_size;
                s.abs_sum.assign(size_t(s.width), 0.0);
                if (cov_) s.cov_sum.assign(size_t(s.width * s.width), 0.0);
                sums_.push_back(std::move(s));
            }
        }
    }

    void add(const StatsBatch& b) override {
        const int64_t n = b.acts.n;
        for (size_t l = 0; l < b.acts.layers.size(); ++l) {
            const int64_t g = config_.group_of_layer(int64_t(l));
            for (int k = 0; k < 4; ++k) {
                Sums& s = sums_[size_t(g * 4 + k)];
                const float* x = layer_input_rows(b.acts.layers[l], LayerInput(k));
                accumulate(s, x, n);
            }
        }
    }

    void reduce(Comm& comm) override {
        for (Sums& s : sums_) {
            flush(s);  // this rank's rows still in the float tile
            comm.allreduce_sum(s.abs_sum.data(), int64_t(s.abs_sum.size()));
            if (cov_) comm.allreduce_sum(s.cov_sum.data(), int64_t(s.cov_sum.size()));
            int64_t rows = 0;
            for (int64_t r : comm.allgather(s.rows)) rows += r;
            s.rows = rows;
        }
    }

    void finish(Stats& out, int64_t) override {
        for (auto& s : sums_) flush(s);
        for (int64_t g = 0; g < config_.num_layer_groups(); ++g) {
            for (int k = 0; k < 4; ++k) {
                const Sums& s = sums_[size_t(g * 4 + k)];
                const std::string name =
                    str_cat("encoder.", g, ".", layer_input_name(LayerInput(k)));
                const double inv = s.rows > 0 ? 1.0 / double(s.rows) : 0.0;
                Tensor m = Tensor::zeros({s.width}, DType::f64);
                for (int64_t i = 0; i < s.width; ++i)
                    m.data<double>()[i] = s.abs_sum[size_t(i)] * inv;
                out.input_abs_mean[name] = std::move(m);
                if (cov_) {
                    Tensor c = Tensor::zeros({s.width, s.width}, DType::f64);
                    for (int64_t i = 0; i < s.width * s.width; ++i) {
                        c.data<double>()[i] = s.cov_sum[size_t(i)] * inv;
                    }
                    out.input_cov[name] = std::move(c);
                }
                out.input_rows = std::max(out.input_rows, s.rows);
            }
        }
    }

  private:
    // Rows whose Xᵀ X a float tile sums (GEMMs with beta 1) before it is added to the double
    // sums: adding a [width, width] tile in double after every batch moved more memory than the
    // GEMMs did arithmetic, and float stays accurate over this many rows.
    static constexpr int64_t kTileRows = 8192;

    struct Sums {
        int64_t width = 0;
        int64_t rows = 0;
        std::vector<double> abs_sum;  // [width]
        std::vector<double> cov_sum;  // [width, width]
        std::vector<float> tile;      // [width, width] Xᵀ X of the rows not yet in cov_sum
        int64_t tile_rows = 0;
    };

    void accumulate(Sums& s, const float* x, int64_t n) {
        const int64_t w = s.width;
        for (int64_t r = 0; r < n; ++r) {
            for (int64_t i = 0; i < w; ++i) s.abs_sum[size_t(i)] += std::fabs(double(x[r * w + i]));
        }
        s.rows += n;
        if (!cov_) return;
        // Xᵀ X of this batch in float (one GEMM), summed into the tile.
        if (s.tile.empty()) s.tile.assign(size_t(w * w), 0.0f);
        kernels::gemm(true, false, w, w, n, 1.0f, x, w, x, w, s.tile_rows > 0 ? 1.0f : 0.0f,
                      s.tile.data(), w);
        s.tile_rows += n;
        if (s.tile_rows >= kTileRows) flush(s);
    }

    // Adds the tile to the double sums.
    static void flush(Sums& s) {
        if (s.tile_rows == 0) return;
        parallel_for(s.width * s.width, 1 << 14, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) s.cov_sum[size_t(i)] += double(s.tile[size_t(i)]);
        });
        s.tile_rows = 0;
    }

    const ModelConfig& config_;
    bool cov_;
    std::vector<Sums> sums_;  // [groups * 4]
};

}  // namespace

std::vector<std::unique_ptr<StatsSource>> make_stats_sources(const Model& model,
                                                             const StatsOptions& o) {
    std::vector<std::unique_ptr<StatsSource>> sources;
    if (o.kinds & kStatFisher) {
        sources.push_back(
            std::make_unique<FisherSource>(model.layout(), o.all_params, o.fisher_f64));
    }
    if (o.kinds & (kStatInputAbsMean | kStatInputCov)) {
        sources.push_back(
            std::make_unique<InputSource>(model.config(), (o.kinds & kStatInputCov) != 0));
    }
    return sources;
}

}  // namespace fwsvd
