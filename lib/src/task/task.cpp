#include "chameleon/task/task.hpp"

#include "chameleon/util/error.hpp"

#include <unordered_map>

namespace chameleon::task {

std::vector<Task> extract_tasks(const network::Network& net) {
  std::unordered_map<std::string, const network::Shape*> shapes = {
      {net.input_name, &net.input_shape}};
  std::vector<Task> tasks;
  std::unordered_map<std::string, size_t> by_key;
  for (const auto& layer : net.layers) {
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
