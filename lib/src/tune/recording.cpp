#include "chameleon/tune/recording.hpp"

#include "chameleon/tune/provenance.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_map>

namespace chameleon::tune {

namespace {

// The target a slice's records were measured for: as its collection recorded it, else the preset
// of that name, else the preset of the records' architecture.
target::Target target_of(const Record& r, const nlohmann::json& provenance) {
  if (provenance.is_object() && provenance.contains("target"))
    return target::target_from_json(provenance.at("target"));
  try {
    return target::find_preset(r.target);
  } catch (const Error&) {
    const int sm = r.arch.rfind("sm_", 0) == 0 ? std::atoi(r.arch.c_str() + 3) : 0;
    if (const target::Target* t = target::closest_preset(r.device, sm)) return *t;
    throw Error("records for target '" + r.target + "' (" + r.arch + ") that no preset describes");
  }
}

// The slices of one log, with their records.
std::vector<SliceRecording> read_slices(const std::string& file) {
  LogContents log = read_log(file);
  std::map<std::string, std::pair<Slice, nlohmann::json>>
      slices; // by name: the slice, its runs' provenance
  std::vector<std::string> order;
  std::map<std::string, std::vector<nlohmann::json>> provenances;
  for (const nlohmann::json& h : read_run_headers(log.comments)) {
    if (!h.contains("collect")) continue;
    Slice s = slice_from_json(h.at("collect"), file);
    auto it = slices.find(s.name);
    if (it == slices.end()) {
      order.push_back(s.name);
      it = slices.emplace(s.name, std::make_pair(s, nlohmann::json())).first;
    } else if (to_json(it->second.first) != to_json(s)) {
      throw Error(file + ": two collections name slice '" + s.name +
                  "' with different knobs or workloads");
    }
    provenances[s.name].push_back(h.value("provenance", nlohmann::json::object()));
  }
  std::vector<SliceRecording> out;
  for (const std::string& name : order) {
    SliceRecording rec;
    rec.slice = slices.at(name).first;
    rec.file = file;
    const space::ConfigSpace space = rec.slice.space();
    const codegen::Template& tmpl = rec.slice.tmpl();
    // Group by device and template version; the largest group is the recording.
    std::map<std::pair<std::string, std::string>, std::unordered_map<std::string, const Record*>>
        groups;
    for (const Record& r : log.records) {
      if (r.template_name != tmpl.name() || r.workload != rec.slice.workload) continue;
      try {
        groups[{r.device_fingerprint, r.template_fingerprint}]
              [space.str(space.from_entity(r.entity))] = &r;
      } catch (const Error&) {
        // Outside the slice.
      }
    }
    if (groups.empty()) {
      spdlog::warn("{}: slice {} has no records yet", file, name);
      continue;
    }
    auto best = std::max_element(groups.begin(), groups.end(), [](const auto& a, const auto& b) {
      return a.second.size() < b.second.size();
    });
    for (const auto& [key, configs] : groups) {
      if (key != best->first) rec.other_records += int(configs.size());
    }
    for (const auto& [key, r] : best->second) rec.records.push_back(*r);
    std::sort(rec.records.begin(), rec.records.end(),
              [](const Record& a, const Record& b) { return a.line < b.line; });
    const Record& first = rec.records.front();
    rec.device = first.device;
    rec.device_fingerprint = first.device_fingerprint;
    rec.template_fingerprint = first.template_fingerprint;
    for (const nlohmann::json& p : provenances[name]) {
      if (p.value("device_fingerprint", std::string()) == rec.device_fingerprint) {
        rec.provenance = p;
        break;
      }
    }
    rec.target = target_of(first, rec.provenance);
    for (const space::Config& c : tunable_configs(rec.slice, space, rec.target)) {
      if (!best->second.count(space.str(c))) ++rec.missing;
      ++rec.tunable;
    }
    out.push_back(std::move(rec));
  }
  return out;
}

} // namespace

std::vector<SliceRecording> read_recording(const std::string& path) {
  const std::vector<std::string> files = log_files(path);
  std::error_code ec;
  std::vector<SliceRecording> out;
  for (const std::string& f : files) {
    for (SliceRecording& s : read_slices(f)) out.push_back(std::move(s));
  }
  if (out.empty()) {
    throw Error("'" + path + "' holds no recorded slice (logs that `chameleon collect` wrote" +
                (files.size() > 1 || std::filesystem::is_directory(path, ec)
                     ? ", directly in the folder"
                     : "") +
                ")");
  }
  return out;
}

std::unique_ptr<measure::RecordedRunner>
make_recorded_runner(const std::string& path, const std::vector<SliceRecording>& slices) {
  measure::RecordedSource source;
  source.path = path;
  std::vector<measure::RecordedSlice> usable;
  for (const SliceRecording& rec : slices) {
    if (!rec.complete()) {
      spdlog::warn("{}: slice {} is incomplete ({} of {} configs recorded; `chameleon collect` "
                   "resumes it): left out",
                   rec.file, rec.slice.name, util::with_commas(rec.tunable - rec.missing),
                   util::with_commas(rec.tunable));
      continue;
    }
    if (source.fingerprint.empty()) {
      source.device = rec.device;
      source.fingerprint = rec.device_fingerprint;
      source.compile_jobs = rec.provenance.value("compile_jobs", 0);
      if (source.compile_jobs <= 0) {
        spdlog::warn("{}: the recording does not say how many compiles its host ran side by side: "
                     "charging one at a time",
                     rec.file);
        source.compile_jobs = 1;
      }
    } else if (rec.device_fingerprint != source.fingerprint) {
      throw Error("'" + path + "' holds slices of two devices ('" + source.fingerprint + "' and '" +
                  rec.device_fingerprint + "'): name one file, or a folder of one device's");
    }
    const codegen::Template& tmpl = rec.slice.tmpl();
    if (rec.template_fingerprint != tmpl.fingerprint()) {
      spdlog::warn("{}: slice {} was recorded with another version of {} ({}; now {}): its answers "
                   "are that version's",
                   rec.file, rec.slice.name, tmpl.name(), rec.template_fingerprint,
                   tmpl.fingerprint());
    }
    for (const measure::RecordedSlice& u : usable) {
      if (u.template_name == rec.slice.template_name && u.workload == rec.slice.workload) {
        throw Error("'" + path + "' holds two slices of " + tmpl.name() + " for " +
                    rec.slice.workload.str() + " (" + u.name + ", " + rec.slice.name +
                    "): name one file");
      }
    }
    measure::RecordedSlice s;
    s.name = rec.slice.name;
    s.template_name = rec.slice.template_name;
    s.workload = rec.slice.workload;
    s.knobs = rec.slice.knobs;
    const space::ConfigSpace space = rec.slice.space();
    for (const Record& r : rec.records)
      s.answers[space.str(space.from_entity(r.entity))] = r.result;
    usable.push_back(std::move(s));
  }
  if (usable.empty())
    throw Error("'" + path + "' holds no complete slice: `chameleon collect` completes one");
  return std::make_unique<measure::RecordedRunner>(std::move(source), std::move(usable));
}

} // namespace chameleon::tune
