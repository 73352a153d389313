#include "chameleon/sample/kmeans.hpp"

#include <algorithm>
#include <limits>

namespace chameleon::sample {

Clustering kmeans(const Eigen::MatrixXd& points, int k, std::mt19937_64& rng, int max_iterations) {
  const Eigen::Index n = points.rows();
  Clustering out;
  if (n == 0) return out;
  k = std::max(1, std::min<int>(k, int(n)));
  out.centroids.resize(k, points.cols());
  // k-means++: the first centroid uniformly, then each with probability ~ squared distance.
  std::uniform_int_distribution<Eigen::Index> pick(0, n - 1);
  out.centroids.row(0) = points.row(pick(rng));
  Eigen::VectorXd nearest = (points.rowwise() - out.centroids.row(0)).rowwise().squaredNorm();
  for (int c = 1; c < k; ++c) {
    const double total = nearest.sum();
    Eigen::Index chosen = 0;
    if (total > 0) {
      double r = std::uniform_real_distribution<double>(0, total)(rng);
      for (chosen = 0; chosen < n - 1 && (r -= nearest(chosen)) > 0; ++chosen) {
      }
    } else {
      chosen = pick(rng);
    }
    out.centroids.row(c) = points.row(chosen);
    nearest = nearest.cwiseMin((points.rowwise() - out.centroids.row(c)).rowwise().squaredNorm());
  }

  out.assignment.assign(size_t(n), -1);
  Eigen::VectorXd dist(n);
  for (int iter = 0; iter < max_iterations; ++iter) {
    bool changed = false;
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Index best = 0;
      dist(i) = (out.centroids.rowwise() - points.row(i)).rowwise().squaredNorm().minCoeff(&best);
      if (out.assignment[size_t(i)] != int(best)) {
        out.assignment[size_t(i)] = int(best);
        changed = true;
      }
    }
    if (!changed && iter > 0) break;
    Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(k, points.cols());
    std::vector<int> counts(size_t(k), 0);
    for (Eigen::Index i = 0; i < n; ++i) {
      sums.row(out.assignment[size_t(i)]) += points.row(i);
      ++counts[size_t(out.assignment[size_t(i)])];
    }
    for (int c = 0; c < k; ++c) {
      if (counts[size_t(c)] > 0) {
        out.centroids.row(c) = sums.row(c) / counts[size_t(c)];
      } else {
        Eigen::Index far = 0;
        dist.maxCoeff(&far);
        out.centroids.row(c) = points.row(far);
        dist(far) = 0;
      }
    }
  }
  out.loss = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    out.loss += (points.row(i) - out.centroids.row(out.assignment[size_t(i)])).squaredNorm();
  }
  return out;
}

size_t knee(const std::vector<double>& losses, double threshold) {
  for (size_t i = 1; i < losses.size(); ++i) {
    if (threshold * losses[i] >= losses[i - 1]) return i;
  }
  return losses.empty() ? 0 : losses.size() - 1;
}

} // namespace chameleon::sample
