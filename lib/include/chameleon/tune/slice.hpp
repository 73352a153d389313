#pragma once

#include "chameleon/codegen/template.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/target/target.hpp"
#include "chameleon/task/workload.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace chameleon::tune {

// A slice of a template's design space for one workload: a subset of each knob's values, small
// enough that `chameleon collect` measures every config of it, so that its optimum is known
// exactly (docs/measurement.md, "The measurement dataset"). A file holds one as JSON:
//   {"name": "resnet18-t4-gemm", "description": "...", "network": "resnet18", "task": 4,
//    "workload": {"N": 1, "C": 128, ...}, "template": "conv2d_implicit_gemm",
//    "knobs": {"tile_k": [8, 16, 32], "split_k": [1, 2, 4]}}
// A knob not named keeps all its values; no "knobs" at all is the whole space.
struct Slice {
  std::string name;
  std::string description;
  std::string network; // where the workload comes from (for people; the workload is what counts)
  int task = 0;
  task::Conv2dWorkload workload;
  std::string template_name;
  nlohmann::json knobs = nlohmann::json::object();

  const codegen::Template& tmpl() const; // throws chameleon::Error for an unknown template
  // The template's space for the workload, cut to the slice's knob values.
  space::ConfigSpace space() const;
};

// Reads and checks a slice: the template exists and supports the workload, and every named knob
// value is one of the template's. Throws chameleon::Error naming `where` and the problem.
Slice slice_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json to_json(const Slice& s);
Slice load_slice(const std::string& path);

// The configs of `space` (the slice's) that tuning would measure on `t` (codegen::tunable), in
// index order: what a collection measures and what a recorded slice must hold.
std::vector<space::Config> tunable_configs(const Slice& s, const space::ConfigSpace& space,
                                           const target::Target& t);

} // namespace chameleon::tune
