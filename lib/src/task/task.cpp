#include "chameleon/task/task.hpp"

#include "chameleon/util/error.hpp"

#include <unordered_map>

namespace chameleon::task {

namespace {

// The epilogue layer `conv` (at position `at`) can take over, and those layers' names.
Epilogue fuse_chain(const network::Network& net, size_t at,
                    const std::unordered_map<std::string, std::vector<size_t>>& readers,
                    const std::unordered_map<std::string, size_t>& position,
                    std::vector<std::string>* fused) {
  const network::Layer& conv = net.layers[at];
  Epilogue e;
  e.bias = conv.bias;
  std::string tensor = conv.name;
  // The only reader of `tensor`, or nullptr.
  auto next = [&]() -> const network::Layer* {
    auto it = readers.find(tensor);
    if (it == readers.end() || it->second.size() != 1) return nullptr;
    return &net.layers[it->second[0]];
  };
  const network::Layer* l = next();
  if (l != nullptr && l->op == network::Op::BatchNorm) {
    e.bias = true;
    fused->push_back(l->name);
    tensor = l->name;
    l = next();
  }
  if (l != nullptr && l->op == network::Op::Add && l->inputs.size() == 2) {
    const std::string& other = l->inputs[0] == tensor ? l->inputs[1] : l->inputs[0];
    auto pos = position.find(other);
    // The residual must exist before the conv2d runs: the network's input or an earlier layer.
    const bool earlier = other == net.input_name || (pos != position.end() && pos->second < at);
    if (other != tensor && earlier) {
      e.residual = true;
      fused->push_back(l->name);
      tensor = l->name;
      l = next();
    }
  }
  if (l != nullptr && l->op == network::Op::Activation && activation_from_name(l->op_name, &e.act))
    fused->push_back(l->name);
  return e;
}

} // namespace

std::vector<Task> extract_tasks(const network::Network& net, const ExtractOptions& opts) {
  std::unordered_map<std::string, std::vector<size_t>> readers;
  std::unordered_map<std::string, size_t> position;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    position[net.layers[i].name] = i;
    for (const std::string& in : net.layers[i].inputs) readers[in].push_back(i);
  }
  std::unordered_map<std::string, const network::Shape*> shapes = {
      {net.input_name, &net.input_shape}};
  std::vector<Task> tasks;
  std::unordered_map<std::string, size_t> by_key;
  for (size_t at = 0; at < net.layers.size(); ++at) {
    const network::Layer& layer = net.layers[at];
    shapes[layer.name] = &layer.shape;
    if (layer.op != network::Op::Conv2d) continue;
    const network::Shape& in =
        layer.input_shape.empty() ? *shapes.at(layer.inputs.at(0)) : layer.input_shape;
    const network::Window& win = layer.window;
    Conv2dWorkload wl;
    wl.n = int(in[0]);
    wl.c = int(in[1]);
    wl.h = int(in[2]);
    wl.w = int(in[3]);
    wl.k = layer.out_channels;
    wl.r = win.kernel_h;
    wl.s = win.kernel_w;
    wl.stride_h = win.stride_h;
    wl.stride_w = win.stride_w;
    wl.pad_top = win.pad_top;
    wl.pad_left = win.pad_left;
    wl.pad_bottom = win.pad_bottom;
    wl.pad_right = win.pad_right;
    wl.dilation_h = win.dilation_h;
    wl.dilation_w = win.dilation_w;
    wl.groups = layer.groups;
    wl.dtype = opts.dtype;
    wl.layout = opts.layout;
    std::vector<std::string> fused;
    if (opts.fuse) wl.epilogue = fuse_chain(net, at, readers, position, &fused);
    auto [it, inserted] = by_key.emplace(wl.key(), tasks.size());
    if (inserted) {
      Task task;
      task.index = int(tasks.size()) + 1;
      task.workload = wl;
      tasks.push_back(task);
    }
    Task& task = tasks[it->second];
    task.count += 1;
    task.layers.push_back(layer.name);
    task.fused.push_back(std::move(fused));
  }
  return tasks;
}

std::vector<Task> select_tasks(const std::vector<Task>& tasks, const std::vector<int>& indices) {
  std::vector<Task> out;
  for (int index : indices) {
    if (index < 1 || index > int(tasks.size())) {
      throw Error("task " + std::to_string(index) + " does not exist: the network has " +
                  std::to_string(tasks.size()) + " tasks (1.." + std::to_string(tasks.size()) +
                  ")");
    }
    out.push_back(tasks[size_t(index - 1)]);
  }
  return out;
}

std::vector<Task> shard_tasks(const std::vector<Task>& tasks, int index, int count) {
  if (count < 1 || index < 0 || index >= count) {
    throw Error("shard " + std::to_string(index) + "/" + std::to_string(count) + " does not exist");
  }
  std::vector<Task> out;
  for (size_t i = size_t(index); i < tasks.size(); i += size_t(count)) out.push_back(tasks[i]);
  return out;
}

} // namespace chameleon::task
