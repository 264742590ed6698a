#include "runtime/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "runtime/error.h"

namespace fwsvd {

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
    FWSVD_CHECK(pred.size() == gold.size() && !pred.empty(), "accuracy: sizes differ or empty");
    size_t ok = 0;
    for (size_t i = 0; i < pred.size(); ++i) ok += pred[i] == gold[i];
    return double(ok) / double(pred.size());
}

double f1_binary(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
    FWSVD_CHECK(pred.size() == gold.size() && !pred.empty(), "f1: sizes differ or empty");
    double tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < pred.size(); ++i) {
        tp += pred[i] == 1 && gold[i] == 1;
        fp += pred[i] == 1 && gold[i] != 1;
        fn += pred[i] != 1 && gold[i] == 1;
    }
    return tp == 0 ? 0.0 : 2 * tp / (2 * tp + fp + fn);
}

double matthews_corr(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold) {
    FWSVD_CHECK(pred.size() == gold.size() && !pred.empty(), "mcc: sizes differ or empty");
    int64_t k = 0;
    for (size_t i = 0; i < pred.size(); ++i) k = std::max({k, pred[i] + 1, gold[i] + 1});
    std::vector<double> t(size_t(k), 0), p(size_t(k), 0);
    double c = 0, s = double(pred.size());
    for (size_t i = 0; i < pred.size(); ++i) {
        t[size_t(gold[i])] += 1;
        p[size_t(pred[i])] += 1;
        c += pred[i] == gold[i];
    }
    double pt = 0, pp = 0, tt = 0;
    for (int64_t j = 0; j < k; ++j) {
        pt += p[size_t(j)] * t[size_t(j)];
        pp += p[size_t(j)] * p[size_t(j)];
        tt += t[size_t(j)] * t[size_t(j)];
    }
    double den = std::sqrt((s * s - pp) * (s * s - tt));
    return den == 0 ? 0.0 : (c * s - pt) / den;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
    FWSVD_CHECK(x.size() == y.size() && x.size() >= 2, "pearson: sizes differ or too few");
    double n = double(x.size());
    double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
    double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return (sxx == 0 || syy == 0) ? 0.0 : sxy / std::sqrt(sxx * syy);
}

namespace {
std::vector<double> average_ranks(const std::vector<double>& v) {
    std::vector<size_t> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> ranks(v.size());
    size_t i = 0;
    while (i < order.size()) {
        size_t j = i;
        while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
        double r = (double(i) + double(j)) / 2 + 1;
        for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
        i = j + 1;
    }
    return ranks;
}
}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
    return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace fwsvd
