#pragma once

#include "chameleon/network/network.hpp"
#include "chameleon/task/workload.hpp"

#include <string>
#include <vector>

namespace chameleon::task {

// A unique conv2d workload of a network: what one tuning run optimizes.
struct Task {
  int index = 0; // 1-based, in order of first occurrence
  Conv2dWorkload workload;
  int count = 0;                   // layers that share the workload
  std::vector<std::string> layers; // their names
  // Per layer (same order), the layers its kernel does as its epilogue ("bn1", "add1", "relu1").
  std::vector<std::vector<std::string>> fused;
};

// How a network's layers become tasks.
struct ExtractOptions {
  DataType dtype = DataType::f32;
  Layout layout = Layout::nchw; // of every task's tensors
  // Fuse what follows each conv2d into its epilogue: its own bias, then a batch_norm (folded into
  // the weights and a bias), then an add of two tensors whose other input is computed before the
  // conv2d (the residual), then relu, relu6, silu or hardswish, each taken only while the tensor
  // before it has no other reader.
  bool fuse = false;
};

// The unique conv2d workloads of the network, in order of first occurrence.
std::vector<Task> extract_tasks(const network::Network& net, const ExtractOptions& opts = {});

// Picks tasks by 1-based index ("--tasks 1,3"); throws chameleon::Error on an index out of range.
std::vector<Task> select_tasks(const std::vector<Task>& tasks, const std::vector<int>& indices);

// Share `index` of `count` (0 <= index < count): tasks whose position in `tasks` is index mod
// count. Every task lands in exactly one share, whatever the count.
std::vector<Task> shard_tasks(const std::vector<Task>& tasks, int index, int count);

} // namespace chameleon::task
