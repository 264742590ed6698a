#include "training/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>

#include "kernels/optimizer.h"
#include "kernels/splitmix.h"
#include "models/backward.h"
#include "models/forward.h"
#include "models/session.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace fwsvd {
namespace {

using kernels::splitmix64_derive;

void shuffle(std::vector<size_t>& v, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = v.size(); i > 1; --i) {
        state = splitmix64_derive(state, i);
        std::swap(v[i - 1], v[size_t(state % i)]);
    }
}

bool decays(const ParamEntry& e) {
    return e.kind != ParamKind::bias && e.kind != ParamKind::layernorm;
}

}  // namespace

double linear_schedule_lr(double lr, int64_t t, int64_t warmup, int64_t total) {
    if (t < warmup) return lr * double(t) / double(std::max<int64_t>(1, warmup));
    return lr * std::max(0.0, double(total - t) / double(std::max<int64_t>(1, total - warmup)));
}

TrainableModel make_trainable(const Model& model, int64_t num_labels, uint64_t seed) {
    TrainableModel t;
    t.config = model.config();
    LayoutOptions lo = model.layout().options();
    // A trained head with the requested label count is kept; anything else gets a fresh one.
    const bool fresh_head =
        num_labels > 0 && (!model.has_classifier() || num_labels != t.config.num_labels());
    FWSVD_CHECK(model.has_classifier() || fresh_head, model.dir().string(),
                ": the checkpoint has no classifier head: give --num-labels N to add one");
    if (fresh_head) {
        t.config.set_num_labels(num_labels);
        t.config.problem_type = num_labels == 1 ? "regression" : "single_label_classification";
        lo.head_dense = true;
        lo.classifier = true;
    }
    t.config.architectures = {t.config.model_family().classifier_architecture()};
    t.layout = ParamLayout(t.config, lo);
    t.flat = Tensor::zeros({t.layout.total_floats()});
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, t.config.initializer_range);
    for (const auto& e : t.layout.entries()) {
        float* dst = t.flat.data<float>() + e.offset;
        const bool head = e.role == Role::head_dense || e.role == Role::classifier;
        const float* src = model.find_data(e.name);
        if (src && !(fresh_head && e.role == Role::classifier)) {
            std::copy(src, src + e.numel, dst);
        } else {
            FWSVD_CHECK(head, "make_trainable: no data for ", e.name);
            if (e.kind != ParamKind::bias) {
                for (int64_t i = 0; i < e.numel; ++i) dst[i] = float(normal(rng));
            }
        }
    }
    return t;
}

std::vector<EpochReport> finetune(TrainableModel& tm, const EncodedData& train,
                                  const FinetuneOptions& o, const FinetuneCallbacks& cb,
                                  Comm* comm) {
    const bool distributed = comm && comm->distributed();
    FWSVD_CHECK(train.has_labels && !train.encodings.empty(), train.source,
                ": fine-tuning needs labelled examples");
    FWSVD_CHECK(o.epochs >= 1 && o.batch >= 1 && o.lr > 0, "invalid fine-tuning options");
    const ParamLayout& layout = tm.layout;
    const int64_t total_floats = layout.total_floats();
    Tensor grad = Tensor::zeros({total_floats});
    Tensor m1 = Tensor::zeros({total_floats});
    Tensor m2 = Tensor::zeros({total_floats});
    ModelParams params = layout.bind(tm.flat.data<float>());
    ModelParams grads = layout.bind(grad.data<float>());

    const size_t n = train.encodings.size();
    const int64_t steps_per_epoch = int64_t((n + size_t(o.batch) - 1) / size_t(o.batch));
    int64_t total_steps = steps_per_epoch * o.epochs;
    if (o.max_steps > 0) total_steps = std::min(total_steps, o.max_steps);
    const int64_t warmup = int64_t(std::ceil(o.warmup_ratio * double(total_steps)));

    std::unique_ptr<Distiller> distiller;
    if (o.distill.teacher) distiller = std::make_unique<Distiller>(o.distill, tm.config);

    Activations acts;
    BackwardWorkspace ws;
    Batch batch;
    Targets targets;
    std::vector<float> dloss;
    std::vector<size_t> order(n);
    std::vector<EpochReport> reports;
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < o.epochs && step < total_steps; ++epoch) {
        const auto t0 = std::chrono::steady_clock::now();
        std::iota(order.begin(), order.end(), size_t(0));
        shuffle(order, splitmix64_derive(o.seed, uint64_t(epoch)));
        EpochReport rep;
        rep.epoch = epoch + 1;
        const int64_t epoch_steps = std::min(steps_per_epoch, total_steps - step);
        if (cb.epoch_begin) cb.epoch_begin(epoch + 1, epoch_steps);
        double loss_sum = 0;
        std::vector<double> losses;
        for (int64_t s = 0; s < epoch_steps; ++s, ++step) {
            const size_t begin = size_t(s) * size_t(o.batch);
            const size_t end = std::min(n, begin + size_t(o.batch));
            // This rank's part [lo, hi) of the batch (all of it in one process).
            size_t lo = begin, hi = end;
            if (distributed) {
                const size_t m = end - begin;
                lo = begin + m * size_t(comm->rank()) / size_t(comm->size());
                hi = begin + m * size_t(comm->rank() + 1) / size_t(comm->size());
            }
            ForwardOptions fo;
            fo.dropout = true;
            fo.seed = splitmix64_derive(o.seed, 1000003ull + uint64_t(step));
            if (distributed) fo.seed = splitmix64_derive(fo.seed, 1 + uint64_t(lo - begin));
            parallel_for(total_floats, 1 << 16, [&](int64_t b, int64_t e) {
                std::fill(grad.data<float>() + b, grad.data<float>() + e, 0.0f);
            });
            double loss = 0;
            if (hi > lo) {
                fill_batch(batch, train, order, lo, hi);
                batch.validate(tm.config, train.source.c_str());
                fill_targets(targets, train, order, lo, hi);
                model_forward(params, layout, batch, acts, fo);
                loss = model_loss(layout, acts, targets);
                // The gradient of the mean loss over the whole batch, of which this is a part.
                const float scale = 1.0f / float(end - begin);
                OutputGrads extra;
                if (distiller) {
                    loss = distiller->step(batch, acts, scale, dloss, extra);
                } else {
                    dloss.assign(hi - lo, scale);
                }
                model_backward(grads, params, layout, batch, acts, targets, dloss.data(),
                               GradMode::sum, ws, extra);
            }
            if (distributed) {
                comm->allreduce_sum(grad.data<float>(), total_floats);
                double part = loss * double(hi - lo) / double(end - begin);
                comm->allreduce_sum(&part, 1);
                loss = part;
            }
            if (o.max_grad_norm > 0) {
                double norm = std::sqrt(kernels::sum_squares(grad.data<float>(), total_floats));
                // Rank 0's norm: the same clipping on every rank whatever their thread counts.
                if (distributed) comm->broadcast(&norm, sizeof norm, 0);
                if (norm > o.max_grad_norm) {
                    kernels::scale(grad.data<float>(), total_floats,
                                   float(o.max_grad_norm / (norm + 1e-6)));
                }
            }
            const double lr = linear_schedule_lr(o.lr, step, warmup, total_steps);
            // AdamW over every parameter, entries split into chunks across threads.
            const auto& entries = layout.entries();
            parallel_for(int64_t(entries.size()), 1, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    const ParamEntry& pe = entries[size_t(i)];
                    kernels::adamw_step(
                        tm.flat.data<float>() + pe.offset, grad.data<float>() + pe.offset,
                        m1.data<float>() + pe.offset, m2.data<float>() + pe.offset, pe.numel,
                        float(lr), float(o.adam_beta1), float(o.adam_beta2), float(o.adam_eps),
                        decays(pe) ? float(o.weight_decay) : 0.0f, step + 1);
                }
            });
            loss_sum += loss;
            losses.push_back(loss);
            if (cb.step_end) cb.step_end(loss, lr);
        }
        rep.steps = step;
        rep.train_loss = losses.empty() ? 0 : loss_sum / double(losses.size());
        const size_t k = std::min<size_t>(10, losses.size());
        for (size_t i = 0; i < k; ++i) {
            rep.first_loss += losses[i] / double(k);
            rep.last_loss += losses[losses.size() - k + i] / double(k);
        }
        if (cb.evaluate_dev) {
            Tensor copy = Tensor::zeros({total_floats});
            std::copy_n(tm.flat.data<float>(), total_floats, copy.data<float>());
            auto model = Model::from_flat(tm.config, layout, std::move(copy));
            Session session(model);
            const DevScore score = cb.evaluate_dev(session);
            rep.dev_value = score.value;
            rep.dev_metrics = score.metrics;
        }
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (cb.epoch_end) cb.epoch_end(rep);
        reports.push_back(rep);
    }
    if (distributed) {
        // Every rank took the same steps from the same sums: weights and moments must agree.
        uint64_t h = 0;
        for (const Tensor* t : {&tm.flat, &m1, &m2}) {
            const auto* w = reinterpret_cast<const uint32_t*>(t->data<float>());
            for (int64_t i = 0; i < total_floats; ++i) h = splitmix64_derive(h, w[i]);
        }
        const std::vector<int64_t> all = comm->allgather(int64_t(h));
        for (size_t r = 1; r < all.size(); ++r) {
            if (all[r] != all[0]) {
                throw Error(str_cat("internal: the weights or optimizer state of rank ", r,
                                    " differ from rank 0's after fine-tuning"),
                            ErrorKind::internal);
            }
        }
    }
    return reports;
}

}  // namespace fwsvd
