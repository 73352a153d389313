// `chameleon collect` and `chameleon dataset`: slices measured whole, and what a recording holds.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/tune/collect.hpp"
#include "chameleon/tune/fidelity.hpp"
#include "chameleon/tune/recording.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <memory>

namespace chameleon::app {

namespace {

struct CollectArgs {
  std::string slice;
  std::string log;
  DeviceOptions dev;
  tune::CollectOptions collect;
  bool dry_run = false;
  bool as_json = false;
};

std::string best_text(const tune::Record& r) {
  return util::fixed(r.seconds() * 1e6, 3) + " us (" +
         util::fixed(double(r.workload.flops()) / r.seconds() / 1e9, 0) + " GFLOPS)";
}

nlohmann::json outcome_json(const tune::Slice& s, const tune::CollectOutcome& o,
                            const std::string& log) {
  nlohmann::json j = {{"slice", s.name},
                      {"template", s.template_name},
                      {"workload", s.workload.str()},
                      {"log", log},
                      {"size", o.size},
                      {"tunable", o.tunable},
                      {"recorded", o.recorded()},
                      {"measured", o.measured},
                      {"ok", o.ok},
                      {"invalid", o.invalid},
                      {"failed", o.failed},
                      {"complete", o.complete()},
                      {"stop_reason", to_text(o.stop)},
                      {"wall_s", o.wall_s}};
  if (o.best)
    j["best"] = {
        {"seconds", o.best->seconds()}, {"entity", o.best->entity}, {"index", o.best->index}};
  return j;
}

void run_collect(CollectArgs a) {
  const tune::Slice slice = tune::load_slice(a.slice);
  if (a.dev.device.rfind("recorded:", 0) == 0) {
    throw Error("collect measures every config of a slice: on a recorded device there is nothing "
                "to measure");
  }
  ResolvedDevice rd = resolve_device(a.dev);
  const std::string log_path = a.log.empty() ? slice.name + "-" + rd.target.name +
                                                   (rd.device == "sim" ? "-sim" : "") + ".jsonl"
                                             : a.log;
  if (a.dry_run) {
    const space::ConfigSpace space = slice.space();
    const auto tunable = tune::tunable_configs(slice, space, rd.target);
    std::cout << "slice " << slice.name << " (" << slice.template_name << ", "
              << slice.workload.str() << "): " << util::with_commas(space.size()) << " configs, "
              << util::with_commas(int64_t(tunable.size())) << " that tuning measures on "
              << rd.target.name << "\n";
    return;
  }
  // Every config is compiled here, so that its record holds the compile time it takes: the
  // recorded device charges it (the in-memory cache still shares a kernel between configs).
  a.dev.no_cache = true;
  tune::check_log_free(log_path);
  auto builder = make_builder(a.dev, rd);
  auto runner = make_device_runner(a.dev, rd, a.dev.gpu);
  tune::TuningLog log(log_path);
  auto progress = tune::make_progress("none");
  tune::TuneEnv env{rd.target, *builder, *runner, log, {}, *progress, slice.network};
  util::install_interrupt_handler();
  const tune::CollectOutcome o = tune::collect_slice(slice, a.collect, env);
  if (a.as_json) {
    std::cout << outcome_json(slice, o, log_path).dump(2) << "\n";
  } else {
    std::cout << "slice " << slice.name << " (" << slice.template_name << ", "
              << slice.workload.str() << ") on " << runner->device_name()
              << (runner->simulated() ? " [simulated]" : "") << ": "
              << util::with_commas(o.recorded()) << " of " << util::with_commas(o.tunable)
              << " configs recorded, "
              << (o.complete() ? "complete"
                               : "incomplete (" + to_text(o.stop) + "; the same command resumes)")
              << "\n";
    if (o.measured > 0) {
      std::cout << "  measured now: " << util::with_commas(o.measured) << " in "
                << util::fixed(o.wall_s, 1) << " s ("
                << util::fixed(o.measured / std::max(1e-9, o.wall_s), 1) << " configs/s, "
                << builder->jobs() << " compile jobs)\n";
    }
    std::cout << "  recorded: " << o.ok << " ok, " << o.invalid << " invalid, " << o.failed
              << " failed\n";
    if (o.best) {
      const space::ConfigSpace space = slice.space();
      std::cout << "  best: " << best_text(*o.best) << ", "
                << space.str(space.from_entity(o.best->entity)) << "\n";
    }
    std::cout << "log: " << log_path << "\n";
  }
  if (o.stop == tune::StopReason::Interrupted) {
    throw util::Interrupted("interrupted: every measurement made is in " + log_path +
                            "; the same command resumes where it stopped");
  }
}

struct DatasetArgs {
  std::string path;
  bool fidelity = false;
  bool as_json = false;
  bool times = false;
};

// The size of the recording's files on disk.
uintmax_t bytes_of(const std::vector<tune::SliceRecording>& slices) {
  std::vector<std::string> files;
  for (const auto& s : slices) {
    if (std::find(files.begin(), files.end(), s.file) == files.end()) files.push_back(s.file);
  }
  uintmax_t total = 0;
  std::error_code ec;
  for (const auto& f : files) total += std::filesystem::file_size(f, ec);
  return total;
}

void run_dataset(const DatasetArgs& a) {
  const auto slices = tune::read_recording(a.path);
  using Align = util::Table::Align;
  std::vector<std::string> headers = {"slice",      "template", "workload", "device",   "recorded",
                                      "optimum us", "GFLOPS",   "failed",   "collected"};
  std::vector<Align> align = {Align::Left,  Align::Left,  Align::Left,  Align::Left, Align::Right,
                              Align::Right, Align::Right, Align::Right, Align::Left};
  if (a.fidelity) {
    for (const char* h : {"sim Spearman", "top 1% in sim's top 5%", "sim's pick"}) {
      headers.push_back(h);
      align.push_back(Align::Right);
    }
  }
  util::Table table(headers, align);
  nlohmann::json rows = nlohmann::json::array();
  for (const tune::SliceRecording& s : slices) {
    const tune::Record* best = nullptr;
    int failed = 0;
    for (const tune::Record& r : s.records) {
      if (r.ok() && (best == nullptr || r.seconds() < best->seconds())) best = &r;
      failed += !r.ok();
    }
    const std::string when = s.provenance.value("date", std::string("?")).substr(0, 10) + " " +
                             s.provenance.value("chameleon", std::string("?"));
    std::vector<std::string> row = {
        s.slice.name,
        s.slice.template_name,
        s.slice.workload.str(),
        s.device,
        util::with_commas(int64_t(s.records.size())) + "/" + util::with_commas(s.tunable) +
            (s.complete() ? "" : " (incomplete)"),
        best ? util::fixed(best->seconds() * 1e6, 3) : "-",
        best ? util::fixed(double(best->workload.flops()) / best->seconds() / 1e9, 0) : "-",
        std::to_string(failed),
        when};
    nlohmann::json j = {{"slice", s.slice.name},
                        {"file", s.file},
                        {"template", s.slice.template_name},
                        {"workload", tune::to_json(s.slice).at("workload")},
                        {"device", s.device},
                        {"device_fingerprint", s.device_fingerprint},
                        {"records", s.records.size()},
                        {"tunable", s.tunable},
                        {"missing", s.missing},
                        {"complete", s.complete()},
                        {"failed", failed},
                        {"other_records", s.other_records},
                        {"provenance", s.provenance}};
    if (best)
      j["optimum"] = {
          {"seconds", best->seconds()}, {"entity", best->entity}, {"index", best->index}};
    if (a.times) {
      nlohmann::json times = nlohmann::json::array();
      for (const tune::Record& r : s.records)
        times.push_back(r.ok() ? nlohmann::json(r.seconds()) : nlohmann::json());
      j["times"] = std::move(times);
    }
    if (a.fidelity) {
      const tune::SimFidelity f = tune::sim_fidelity(s);
      row.push_back(util::fixed(f.spearman, 3));
      row.push_back(util::fixed(100 * f.top1_in_sim_top5, 0) + "% of " + std::to_string(f.top1));
      row.push_back(util::fixed(100 * f.sim_pick, 1) + "%");
      j["sim_fidelity"] = {{"compared", f.compared},
                           {"spearman", f.spearman},
                           {"top1", f.top1},
                           {"top1_in_sim_top5", f.top1_in_sim_top5},
                           {"sim_pick", f.sim_pick},
                           {"sim_unlaunchable", f.sim_unlaunchable},
                           {"failed_launchable", f.failed_launchable}};
    }
    table.add_row(row);
    rows.push_back(j);
  }
  const uintmax_t bytes = bytes_of(slices);
  if (a.as_json) {
    std::cout << nlohmann::json({{"path", a.path}, {"bytes", bytes}, {"slices", rows}}).dump(2)
              << "\n";
    return;
  }
  std::cout << a.path << ": " << util::count_of(int64_t(slices.size()), "recorded slice") << ", "
            << util::fixed(double(bytes) / (1 << 20), 2) << " MiB on disk\n";
  table.print(std::cout);
  if (a.fidelity) {
    std::cout
        << "sim: the sim device's prediction of each measured config from its recorded registers "
           "and shared "
           "memory; Spearman over the configs both ran, the share of the measured top 1% that the "
           "sim "
           "ranks in its top 5%, and the optimum's time over that of the sim's fastest pick\n";
  }
}

} // namespace

void add_dataset_commands(CLI::App& app) {
  {
    auto a = std::make_shared<CollectArgs>();
    auto* cmd = app.add_subcommand(
        "collect",
        "Measure every config of a slice of a template's space (resumable; docs/measurement.md)");
    cmd->add_option("slice", a->slice, "Slice file (JSON: name, workload, template, knobs)")
        ->required();
    cmd->add_option("--log", a->log,
                    "Log to record into and resume from (default SLICE-TARGET[-sim].jsonl)");
    cmd->add_option("--limit", a->collect.limit,
                    "Measure at most this many configs in this run (0: all left)")
        ->check(at_least(0))
        ->capture_default_str();
    cmd->add_option_function<double>(
           "--time-limit", [a](double minutes) { a->collect.time_limit_s = minutes * 60; },
           "Wall minutes for this run (0: none); what is measured by then stays in the log")
        ->check(at_least(0));
    cmd->add_option("--batch", a->collect.batch,
                    "Configs queued on the compile workers at once (0: 4 per worker)")
        ->check(at_least(0))
        ->capture_default_str();
    cmd->add_flag("--dry-run", a->dry_run, "Only count the slice's configs");
    cmd->add_flag("--json", a->as_json, "Print the outcome as JSON");
    add_device_options(*cmd, a->dev);
    cmd->callback([a] {
      CollectArgs args = *a;
      args.collect.seed = args.dev.measure.seed;
      run_collect(std::move(args));
    });
  }
  {
    auto a = std::make_shared<DatasetArgs>();
    auto* cmd =
        app.add_subcommand("dataset", "What a recording (a collected slice's log, or a folder of "
                                      "them) holds: completeness, optimum, provenance");
    cmd->add_option("path", a->path, "A log that `collect` wrote, or a folder of them")->required();
    cmd->add_flag("--fidelity", a->fidelity,
                  "Also rank the slices' configs with the sim device and compare");
    cmd->add_flag("--json", a->as_json, "Print JSON");
    cmd->add_flag("--times", a->times,
                  "With --json: every recorded config's time (null: it failed)");
    cmd->callback([a] { run_dataset(*a); });
  }
}

} // namespace chameleon::app
