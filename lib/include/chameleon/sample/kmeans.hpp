#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <random>
#include <vector>

namespace chameleon::sample {

struct Clustering {
  Eigen::MatrixXd centroids;   // k x dims
  std::vector<int> assignment; // cluster of every point
  double loss = 0;             // sum of squared distances to the assigned centroids
};

// Lloyd's k-means with k-means++ seeding, deterministic for a given rng state. An empty cluster
// is reseeded with the point farthest from its centroid. points: n x dims; k is clamped to n.
Clustering kmeans(const Eigen::MatrixXd& points, int k, std::mt19937_64& rng,
                  int max_iterations = 100);

// The meta-search: the index of the first k (in ks, increasing) whose loss satisfies
// threshold x loss(k) >= loss(previous k), i.e. the knee; the last index when there is none.
size_t knee(const std::vector<double>& losses, double threshold);

} // namespace chameleon::sample
