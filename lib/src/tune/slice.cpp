#include "chameleon/tune/slice.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"

namespace chameleon::tune {

const codegen::Template& Slice::tmpl() const {
  return codegen::find_template(template_name);
}

space::ConfigSpace Slice::space() const {
  return tmpl().make_space(workload).restrict(knobs);
}

Slice slice_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": a slice is a JSON object");
  Slice s;
  try {
    s.name = j.at("name").get<std::string>();
    s.description = j.value("description", std::string());
    s.network = j.value("network", std::string());
    s.task = j.value("task", 0);
    s.template_name = j.at("template").get<std::string>();
    if (j.contains("knobs")) s.knobs = j.at("knobs");
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": a slice needs a name, a workload and a template (" + e.what() + ")");
  }
  if (!j.contains("workload")) throw Error(where + ": a slice needs a workload");
  try {
    s.workload = task::workload_from_json(j.at("workload"));
    const codegen::Template& t = s.tmpl();
    const std::string why = t.decline_reason(s.workload);
    if (!why.empty())
      throw Error("template " + t.name() + " does not support " + s.workload.str() + ": " + why);
    s.space(); // checks the knobs
  } catch (const Error& e) {
    throw Error(where + " (slice '" + s.name + "'): " + e.what());
  }
  return s;
}

nlohmann::json to_json(const Slice& s) {
  nlohmann::json j = {{"name", s.name},
                      {"workload", task::to_json(s.workload)},
                      {"template", s.template_name},
                      {"knobs", s.knobs}};
  if (!s.description.empty()) j["description"] = s.description;
  if (!s.network.empty()) j["network"] = s.network;
  if (s.task > 0) j["task"] = s.task;
  return j;
}

Slice load_slice(const std::string& path) {
  return slice_from_json(util::read_json_file(path, "slice file"), "slice file '" + path + "'");
}

std::vector<space::Config> tunable_configs(const Slice& s, const space::ConfigSpace& space,
                                           const target::Target& t) {
  const codegen::Template& tmpl = s.tmpl();
  std::vector<space::Config> out;
  for (int64_t i = 0; i < space.size(); ++i) {
    space::Config c = space.get(i);
    if (codegen::tunable(t, tmpl.features(s.workload, space, c))) out.push_back(std::move(c));
  }
  return out;
}

} // namespace chameleon::tune
