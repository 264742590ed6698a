// Task metrics as GLUE reports them (scikit-learn / scipy definitions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fwsvd {

double accuracy(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
// Binary F1 of the positive class 1 (0 when there are no true positives).
double f1_binary(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
// Matthews correlation coefficient for any number of classes (sklearn's multiclass formula);
// 0 when undefined.
double matthews_corr(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// Spearman's rho: Pearson of the ranks, ties given their average rank (scipy.stats.spearmanr).
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace fwsvd
