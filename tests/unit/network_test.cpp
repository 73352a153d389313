#include <catch2/catch.hpp>

#include "chameleon/network/network.hpp"
#include "chameleon/task/task.hpp"
#include "chameleon/util/error.hpp"

#include <nlohmann/json.hpp>

#include <string>

using namespace chameleon;
using nlohmann::json;

namespace {
std::string net_path(const std::string& name) {
  return std::string(CHAMELEON_SOURCE_DIR) + "/networks/" + name + ".json";
}

std::vector<task::Task> tasks_of(const std::string& name, int batch = 0) {
  return task::extract_tasks(network::load_network(net_path(name), batch));
}

json small_net(json layers) {
  return {
      {"name", "t"}, {"input", {{"name", "data"}, {"shape", {1, 3, 32, 32}}}}, {"layers", layers}};
}

void require_error(const json& doc, const std::string& fragment) {
  try {
    network::parse_network(doc, "t.json");
    FAIL("no error for " << doc.dump());
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    CHECK(std::string(e.what()).find("t.json") != std::string::npos);
  }
}
} // namespace

TEST_CASE("shipped networks have the expected unique conv2d tasks", "[network]") {
  CHECK(tasks_of("resnet18").size() == 11);
  CHECK(tasks_of("vgg16").size() == 9);
  CHECK(tasks_of("alexnet").size() == 5);
  CHECK(tasks_of("resnet50").size() == 23);
  CHECK(tasks_of("inception_v3").size() >= 20);
}

TEST_CASE("ResNet-18 tasks: shapes, counts and FLOPs", "[network]") {
  auto tasks = tasks_of("resnet18");
  int layers = 0;
  for (const auto& t : tasks) layers += t.count;
  CHECK(layers == 20);
  const auto& first = tasks[0].workload;
  CHECK(first.str() == "N1 C3 H224 W224 K64 R7 S7 s2 p3 d1");
  CHECK(first.flops() == 2LL * 64 * 112 * 112 * 3 * 7 * 7);
  CHECK(tasks[1].count == 4); // the four 64->64 3x3 convolutions of layer1
  CHECK(tasks[1].layers.front() == "layer1_0_conv1");
}

TEST_CASE("a batch override reaches every task", "[network]") {
  for (const auto& t : tasks_of("resnet18", 8)) CHECK(t.workload.n == 8);
}

TEST_CASE("Inception-v3 keeps asymmetric kernels, padding and odd sizes", "[network]") {
  bool seen_1x7 = false, seen_7x1 = false, seen_odd = false;
  for (const auto& t : tasks_of("inception_v3")) {
    const auto& w = t.workload;
    if (w.r == 1 && w.s == 7) seen_1x7 = w.pad_left == 3 && w.pad_top == 0;
    if (w.r == 7 && w.s == 1) seen_7x1 = w.pad_top == 3 && w.pad_left == 0;
    if (w.h == 149 || w.h == 147 || w.h == 17) seen_odd = true;
  }
  CHECK(seen_1x7);
  CHECK(seen_7x1);
  CHECK(seen_odd);
}

TEST_CASE("grouped convolutions are tasks too", "[network]") {
  int grouped = 0;
  for (const auto& t : tasks_of("mobilenet_v2")) grouped += t.workload.groups > 1;
  CHECK(grouped > 0);
}

TEST_CASE("shape inference follows the layers", "[network]") {
  auto net = network::parse_network(
      small_net(
          {{{"name", "c1"},
            {"op", "conv2d"},
            {"out_channels", 8},
            {"kernel", {3, 5}},
            {"stride", 2},
            {"padding", {1, 2}},
            {"dilation", {1, 1}}},
           {{"name", "p"}, {"op", "max_pool"}, {"kernel", 3}, {"stride", 2}, {"ceil_mode", true}},
           {{"name", "c2"},
            {"op", "conv2d"},
            {"out_channels", 6},
            {"kernel", 3},
            {"dilation", 2},
            {"padding", 2},
            {"inputs", {"p"}}},
           {{"name", "cat"}, {"op", "concat"}, {"inputs", {"p", "c2"}}},
           {{"name", "g"}, {"op", "global_avg_pool"}},
           {{"name", "f"}, {"op", "flatten"}},
           {{"name", "d"}, {"op", "dense"}, {"units", 10}}}),
      "t.json");
  CHECK(net.layers[0].shape == network::Shape{1, 8, 16, 16});
  CHECK(net.layers[1].shape == network::Shape{1, 8, 8, 8}); // ceil((16-3)/2)+1 = 8
  CHECK(net.layers[2].shape == network::Shape{1, 6, 8, 8});
  CHECK(net.layers[3].shape == network::Shape{1, 14, 8, 8});
  CHECK(net.layers.back().shape == network::Shape{1, 10});
}

TEST_CASE("a wrong network file gets an error naming the layer and the problem", "[network]") {
  require_error(small_net({{{"name", "x"}, {"op", "conv3d"}}}), "unknown op 'conv3d'");
  require_error(small_net({{{"name", "x"}, {"op", "relu"}, {"inputs", {"nope"}}}}), "input 'nope'");
  require_error(small_net({{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", 3}},
                           {{"name", "b"}, {"op", "add"}, {"inputs", {"data", "a"}}}}),
                "shape mismatch");
  require_error(small_net({{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", 40}}}),
                "layer 'a'");
  require_error(
      small_net(
          {{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"stride", 0}}}),
      "stride");
  require_error(small_net({{{"name", "a"}, {"op", "conv2d"}, {"kernel", 3}}}), "out_channels");
  require_error(
      small_net(
          {{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"groups", 2}}}),
      "groups");
  require_error(small_net({{{"name", "a"}, {"op", "relu"}}, {{"name", "a"}, {"op", "relu"}}}),
                "used twice");
  require_error(small_net({{{"name", "a"}, {"op", "relu"}, {"kernal", 3}}}),
                "unknown field 'kernal'");
  require_error(small_net({{{"name", "d"}, {"op", "dense"}, {"units", 4}}}), "flatten");
  require_error(small_net(json::array()), "layers");
  require_error(json::array(), "JSON object");
  // Numbers beyond int are refused, not wrapped around.
  require_error(
      small_net(
          {{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 99999999999LL}, {"kernel", 3}}}),
      "'out_channels' is out of range");
  require_error(
      small_net(
          {{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", {3, -4294967296LL}}}}),
      "'kernel' is out of range");
  json wide = small_net({{{"name", "a"}, {"op", "conv2d"}, {"out_channels", 4}, {"kernel", 3}}});
  wide["input"]["shape"] = {1, 3, 8, 4294967297LL};
  require_error(wide, "beyond 32-bit indexing");
  // Fields of the wrong type are named, not a JSON library's type error.
  json named = small_net({{{"name", "a"}, {"op", "relu"}}});
  named["name"] = 5;
  require_error(named, "'name' must be a string, got 5");
  named = small_net({{{"name", "a"}, {"op", "relu"}}});
  named["input"]["name"] = json::array();
  require_error(named, "the input's 'name' must be a string, got []");
  require_error(small_net({{{"name", 7}, {"op", "relu"}}}),
                "'name' must be a non-empty string, got 7");
  require_error(small_net({{{"name", "a"}, {"op", 7}}}),
                "layer 'a' (#1): 'op' must be a string, got 7");
  require_error(
      small_net({{{"name", "p"}, {"op", "max_pool"}, {"kernel", 2}, {"ceil_mode", "yes"}}}),
      "'ceil_mode' must be true or false, got \"yes\"");
}

TEST_CASE("a network can be a list of conv2d layers that each give their input shape",
          "[network]") {
  // What scripts/onnx_to_network.py writes: no 'input', every conv2d with its own 'input_shape'.
  auto conv = [](const std::string& name, json shape, int k, int kernel, int stride = 1) {
    return json{{"name", name},     {"op", "conv2d"},   {"input_shape", shape}, {"out_channels", k},
                {"kernel", kernel}, {"stride", stride}, {"padding", kernel / 2}};
  };
  json doc = {{"name", "flat"},
              {"layers",
               {conv("a", {1, 3, 29, 31}, 17, 3, 2),
                conv("b", {1, 17, 15, 16}, 17, 3),
                conv("c", {1, 17, 15, 16}, 17, 3),
                // A later layer may still read an earlier one.
                {{"name", "d"}, {"op", "conv2d"}, {"out_channels", 5}, {"kernel", 1}}}}};
  const auto net = network::parse_network(doc, "flat.json");
  CHECK(net.input_shape.empty());
  CHECK(net.layers[0].shape == network::Shape{1, 17, 15, 16});
  auto tasks = task::extract_tasks(net);
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].workload.str() == "N1 C3 H29 W31 K17 R3 S3 s2 p1 d1");
  CHECK(tasks[1].count == 2);
  CHECK(tasks[2].workload.str() == "N1 C17 H15 W16 K5 R1 S1 s1 p0 d1");
  // --batch reaches the given shapes.
  tasks = task::extract_tasks(network::parse_network(doc, "flat.json", 8));
  CHECK(tasks[0].workload.n == 8);
  CHECK(tasks[2].workload.n == 8);

  auto one = [](json layer) { return json{{"name", "t"}, {"layers", {layer}}}; };
  require_error(one({{"name", "r"}, {"op", "relu"}}), "no input to read");
  require_error(one({{"name", "c"},
                     {"op", "conv2d"},
                     {"out_channels", 4},
                     {"kernel", 1},
                     {"input_shape", {1, 3, 0, 4}}}),
                "input_shape must be [N, C, H, W]");
  require_error(one({{"name", "c"},
                     {"op", "conv2d"},
                     {"out_channels", 4},
                     {"kernel", 1},
                     {"input_shape", {1, 3, 4}}}),
                "input_shape must be [N, C, H, W]");
  require_error(one({{"name", "c"},
                     {"op", "conv2d"},
                     {"out_channels", 4},
                     {"kernel", 1},
                     {"input_shape", {1, 3, 4, 4}},
                     {"inputs", {"x"}}}),
                "'inputs' or an 'input_shape', not both");
  require_error(
      one({{"name", "p"}, {"op", "max_pool"}, {"kernel", 2}, {"input_shape", {1, 3, 4, 4}}}),
      "unknown field 'input_shape'");
  require_error(one({{"name", "c"},
                     {"op", "conv2d"},
                     {"out_channels", 4},
                     {"kernel", 5},
                     {"input_shape", {1, 3, 4, 4}}}),
                "layer 'c'");
}

TEST_CASE("an identity layer may stand for a tensor the file leaves out, as a fused residual",
          "[network]") {
  // What scripts/onnx_to_network.py writes for an add of a pooling layer's output: an identity
  // with the tensor's shape before the conv2d, read by the add.
  json doc = {{"name", "stand-in"},
              {"layers",
               {{{"name", "pool_out"}, {"op", "identity"}, {"input_shape", {1, 8, 9, 7}}},
                {{"name", "c"},
                 {"op", "conv2d"},
                 {"input_shape", {1, 8, 9, 7}},
                 {"out_channels", 8},
                 {"kernel", 3},
                 {"padding", 1}},
                {{"name", "c_add"}, {"op", "add"}, {"inputs", {"c", "pool_out"}}},
                {{"name", "c_relu"}, {"op", "relu"}, {"inputs", {"c_add"}}}}}};
  const auto net = network::parse_network(doc, "stand-in.json", 2);
  CHECK(net.layers[0].shape == network::Shape{2, 8, 9, 7});
  task::ExtractOptions o;
  o.fuse = true;
  const auto tasks = task::extract_tasks(net, o);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].workload.str() == "N2 C8 H9 W7 K8 R3 S3 s1 p1 d1 +add+relu");
  auto one = [](json layer) { return json{{"name", "t"}, {"layers", {layer}}}; };
  require_error(one({{"name", "i"}, {"op", "identity"}}), "or identity, an 'input_shape'");
  require_error(
      one({{"name", "i"}, {"op", "identity"}, {"input_shape", {1, 2, 3, 4}}, {"inputs", {"x"}}}),
      "'inputs' or an 'input_shape', not both");
}

TEST_CASE("load_network reports unreadable and malformed files", "[network]") {
  CHECK_THROWS_WITH(network::load_network("/nonexistent/net.json"), Catch::Contains("cannot open"));
  std::string path = std::string(CHAMELEON_SOURCE_DIR) + "/tests/unit/data/truncated.json";
  CHECK_THROWS_WITH(network::load_network(path), Catch::Contains("not valid JSON"));
}

TEST_CASE("select_tasks checks indices", "[network]") {
  auto tasks = tasks_of("alexnet");
  CHECK(task::select_tasks(tasks, {1, 3}).size() == 2);
  CHECK_THROWS_WITH(task::select_tasks(tasks, {6}), Catch::Contains("has 5 tasks"));
}
