#include "chameleon/emit/report.hpp"

#include "chameleon/emit/svg.hpp"
#include "chameleon/tune/status.hpp"
#include "chameleon/tune/tuning_log.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/files.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace chameleon::emit {

namespace fs = std::filesystem;

namespace {

// One template's share of a task in one log.
struct TemplateShare {
  int trials = 0, failed = 0; // failed: measured with an error (invalid configs included)
  double best_s = 0;
};

// One task's history in one log.
struct Curve {
  task::Conv2dWorkload wl;
  int task_index = 0;
  std::string network;             // the network the task was tuned for, as its records name it
  std::vector<double> best_gflops; // after each measurement
  std::vector<double> seconds;     // since the task's first measurement
  double best_s = 0;
  int64_t best_index = -1;
  std::string best_template;
  std::map<std::string, TemplateShare> templates; // by name, each template's trials and best
  int invalid = 0, failed = 0;
  double compile_s = 0, measure_s = 0, explore_s = 0;
  std::string stopped; // why its last template turn ended (the log's task-end line), or empty
};

struct LogView {
  std::string label;
  std::string device;
  bool simulated = false;
  std::vector<std::string> order; // workload keys in first-appearance order
  std::map<std::string, Curve> curves;
};

LogView view_of(const std::string& path) {
  tune::LogContents contents = tune::read_log(path);
  LogView v;
  if (contents.records.empty()) throw Error(path + ": no tuning records");
  v.device = contents.records.back().device;
  std::set<std::string> tuners;
  std::map<std::string, double> first_time;
  for (const auto& r : contents.records) {
    if (r.device != v.device) continue;
    tuners.insert(r.tuner);
    v.simulated = v.simulated || r.result.simulated;
    const std::string key = r.workload.key();
    auto [it, fresh] = v.curves.try_emplace(key);
    Curve& c = it->second;
    if (fresh) {
      v.order.push_back(key);
      c.wl = r.workload;
      c.task_index = r.task_index;
      c.network = r.network;
      first_time[key] = r.result.timestamp - r.result.all_cost;
    }
    double best = c.best_gflops.empty() ? 0 : c.best_gflops.back();
    TemplateShare& share = c.templates[r.template_name];
    ++share.trials;
    if (r.ok() && r.seconds() > 0) {
      if (share.best_s == 0 || r.seconds() < share.best_s) share.best_s = r.seconds();
    } else {
      ++share.failed;
    }
    if (r.ok() && r.seconds() > 0) {
      double g = double(r.workload.flops()) / r.seconds() / 1e9;
      if (g > best) {
        best = g;
        c.best_s = r.seconds();
        c.best_index = r.index;
        c.best_template = r.template_name;
      }
    } else if (r.result.error == measure::ErrorNo::Instantiation) {
      ++c.invalid;
    } else if (!r.ok()) {
      ++c.failed;
    }
    c.best_gflops.push_back(best);
    // The task's clock as the tuner logged it (charged time on the recorded device); logs of
    // older versions have only the records' timestamps.
    const nlohmann::json* tune = r.result.settings.is_object() && r.result.settings.contains("tune")
                                     ? &r.result.settings.at("tune")
                                     : nullptr;
    c.seconds.push_back(tune != nullptr && tune->is_object() && tune->contains("elapsed_s")
                            ? tune->at("elapsed_s").get<double>()
                            : r.result.timestamp - first_time[key]);
    c.compile_s += r.result.compile_seconds;
    c.measure_s += r.result.run_seconds;
  }
  // Exploration and fitting time from the iteration lines the tuner writes.
  const std::string tag = "chameleon-iteration ";
  for (const auto& line : contents.comments) {
    if (line.rfind(tag, 0) != 0) continue;
    try {
      auto j = nlohmann::json::parse(line.substr(tag.size()));
      auto it = v.curves.find(j.value("workload", std::string()));
      if (it != v.curves.end()) {
        it->second.explore_s +=
            j.value("explore_s", 0.0) + j.value("fit_s", 0.0) + j.value("sample_s", 0.0);
      }
    } catch (const nlohmann::json::exception&) {
      // A comment that is not ours.
    }
  }
  // Why each task stopped, as the tuner logged it (logs of older versions do not say).
  for (const tune::TaskEnd& e : tune::read_task_ends(contents.comments)) {
    auto it = v.curves.find(e.workload);
    if (it != v.curves.end()) it->second.stopped = to_text(e.stop);
  }
  v.label =
      fs::path(path).stem().string() + " (" + util::join({tuners.begin(), tuners.end()}, "+") + ")";
  return v;
}

void write(const fs::path& path, const std::string& text) {
  util::write_file(path.string(), text);
}

// How a table names a task: its index, and its network's name too when the logs hold tasks of
// several networks (one log may: tune writes to any --log given), whose indices repeat.
std::string task_label(const Curve& c, bool networks) {
  const std::string index = c.task_index > 0 ? std::to_string(c.task_index) : "-";
  return networks && !c.network.empty() ? c.network + " " + index : index;
}

// Figure names, one per workload key: task_NN. Where two workloads would share one: the network's
// name before it when that tells them apart (tasks of several networks), else the workload's
// position after it (say a damaged record's workload), so that no figure overwrites another.
std::vector<std::string> figure_names(const std::vector<const Curve*>& curves) {
  std::vector<std::string> out(curves.size());
  std::map<std::string, std::vector<size_t>> by_name;
  for (size_t t = 0; t < curves.size(); ++t) {
    char name[32];
    std::snprintf(name, sizeof(name), "task_%02d",
                  curves[t]->task_index > 0 ? curves[t]->task_index : int(t + 1));
    out[t] = name;
    by_name[out[t]].push_back(t);
  }
  for (const auto& [name, uses] : by_name) {
    if (uses.size() < 2) continue;
    std::set<std::string> networks;
    for (size_t t : uses) networks.insert(curves[t]->network);
    const bool by_network = networks.size() == uses.size() && !networks.count("");
    for (size_t t : uses) {
      std::string net;
      for (char ch : curves[t]->network)
        net += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      out[t] = by_network ? net + "_" + name : name + "_" + std::to_string(t + 1);
    }
  }
  return out;
}

std::string template_table(const LogView& v, bool networks) {
  std::ostringstream md;
  for (const auto& k : v.order) {
    const Curve& c = v.curves.at(k);
    if (c.templates.size() < 2) continue;
    for (const auto& [name, share] : c.templates) {
      md << "| " << task_label(c, networks) << " | " << name << " | " << share.trials << " | "
         << share.failed << " | " << (share.best_s > 0 ? util::fixed(share.best_s * 1e6, 2) : "-")
         << " | "
         << (share.best_s > 0 && c.best_s > 0 ? util::fixed(share.best_s / c.best_s, 2) + "x" : "-")
         << " |\n";
    }
  }
  if (md.str().empty()) return "";
  std::map<std::string, int> wins;
  for (const auto& k : v.order) {
    if (v.curves.at(k).best_s > 0) ++wins[v.curves.at(k).best_template];
  }
  std::vector<std::string> won;
  for (const auto& [name, n] : wins) won.push_back(name + " " + std::to_string(n));
  return "Tasks won: " + util::join(won, ", ") +
         ". Templates per task (time of each template's best over the task's best):\n\n"
         "| task | template | trials | failed | best us | time vs best "
         "|\n|---|---|---|---|---|---|\n" +
         md.str() + "\n";
}

} // namespace

ReportResult report(const std::vector<std::string>& logs, const std::string& dir) {
  if (logs.empty()) throw Error("report needs at least one log");
  std::vector<LogView> views;
  for (const auto& l : logs) views.push_back(view_of(l));
  util::make_folder(dir, "the report folder");

  // Tasks: every workload of any log, in the first log's order.
  std::vector<std::string> keys;
  std::vector<const Curve*> first; // per key, its curve in the first log that has it
  std::set<std::string> seen, networks;
  for (const auto& v : views) {
    for (const auto& k : v.order) {
      const Curve& c = v.curves.at(k);
      if (!c.network.empty()) networks.insert(c.network);
      if (seen.insert(k).second) {
        keys.push_back(k);
        first.push_back(&c);
      }
    }
  }
  const bool several = networks.size() > 1;
  const std::vector<std::string> names = figure_names(first);
  ReportResult result;
  std::ostringstream md;
  md << "# Tuning report\n\n";
  for (const auto& v : views) {
    md << "- **" << v.label << "**: " << v.device << (v.simulated ? " (simulated)" : "") << "\n";
  }
  md << "\n";

  std::vector<Series> overview(views.size());
  for (size_t i = 0; i < views.size(); ++i) overview[i].name = views[i].label;
  std::vector<std::vector<double>> relative(views.size()); // per log, sum over tasks per trial
  std::vector<std::vector<int>> present(views.size());
  for (size_t t = 0; t < keys.size(); ++t) {
    const task::Conv2dWorkload& wl = first[t]->wl;
    const std::string& name = names[t];
    LineChart by_trial{name + ": " + wl.str(), "measurements", "best GFLOPS", {}};
    LineChart by_time{
        name + ": " + wl.str(), "seconds since the task's first measurement", "best GFLOPS", {}};
    double best_all = 0;
    for (const auto& v : views) {
      auto it = v.curves.find(keys[t]);
      if (it != v.curves.end() && !it->second.best_gflops.empty())
        best_all = std::max(best_all, it->second.best_gflops.back());
    }
    for (size_t i = 0; i < views.size(); ++i) {
      auto it = views[i].curves.find(keys[t]);
      if (it == views[i].curves.end()) continue;
      const Curve& c = it->second;
      Series a{views[i].label, {}}, b{views[i].label, {}};
      for (size_t k = 0; k < c.best_gflops.size(); ++k) {
        a.points.emplace_back(double(k + 1), c.best_gflops[k]);
        b.points.emplace_back(c.seconds[k], c.best_gflops[k]);
        if (best_all > 0) {
          if (relative[i].size() <= k) relative[i].resize(k + 1, 0.0), present[i].resize(k + 1, 0);
          relative[i][k] += c.best_gflops[k] / best_all;
          ++present[i][k];
        }
      }
      by_trial.series.push_back(std::move(a));
      by_time.series.push_back(std::move(b));
    }
    write(fs::path(dir) / (name + "_trials.svg"), by_trial.svg());
    write(fs::path(dir) / (name + "_time.svg"), by_time.svg());
    result.files.push_back(name + "_trials.svg");
    result.files.push_back(name + "_time.svg");
  }
  for (size_t i = 0; i < views.size(); ++i) {
    for (size_t k = 0; k < relative[i].size(); ++k) {
      if (present[i][k] > 0)
        overview[i].points.emplace_back(double(k + 1), 100.0 * relative[i][k] / present[i][k]);
    }
  }
  LineChart over{"All tasks: best so far, % of the best found", "measurements per task",
                 "% of the best (mean over tasks)", overview};
  write(fs::path(dir) / "overview.svg", over.svg());
  result.files.insert(result.files.begin(), "overview.svg");

  for (const auto& v : views) {
    md << "## " << v.label << "\n\n"
       << "| task | workload | trials | best us | GFLOPS | template | config | invalid | failed | "
          "compile s | measure s | explore s | stopped |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& k : v.order) {
      const Curve& c = v.curves.at(k);
      md << "| " << task_label(c, several) << " | " << c.wl.str() << " | " << c.best_gflops.size()
         << " | " << (c.best_s > 0 ? util::fixed(c.best_s * 1e6, 2) : "-") << " | "
         << (c.best_s > 0 ? util::fixed(c.best_gflops.back(), 0) : "-") << " | "
         << (c.best_s > 0 ? c.best_template : "-") << " | "
         << (c.best_index >= 0 ? std::to_string(c.best_index) : "-") << " | " << c.invalid << " | "
         << c.failed << " | " << util::fixed(c.compile_s, 1) << " | " << util::fixed(c.measure_s, 1)
         << " | " << util::fixed(c.explore_s, 1) << " | " << (c.stopped.empty() ? "-" : c.stopped)
         << " |\n";
    }
    md << "\n" << template_table(v, several);
  }
  md << "## Figures\n\n![overview](overview.svg)\n\n";
  for (size_t i = 1; i < result.files.size(); i += 2) {
    md << "![" << result.files[i] << "](" << result.files[i] << ") ![" << result.files[i + 1]
       << "](" << result.files[i + 1] << ")\n\n";
  }
  result.markdown = md.str();
  write(fs::path(dir) / "report.md", result.markdown);
  result.files.push_back("report.md");
  return result;
}

std::vector<std::string> charts(const std::string& spec_path, const std::string& dir) {
  const nlohmann::json spec = util::read_json_file(spec_path, "chart file");
  util::make_folder(dir, "the report folder");
  std::vector<std::string> files;
  try {
    for (const auto& c : spec.at("charts")) {
      LineChart chart;
      chart.title = c.value("title", std::string());
      chart.x_label = c.value("x_label", std::string());
      chart.y_label = c.value("y_label", std::string());
      for (const auto& s : c.at("series")) {
        Series series{s.at("name").get<std::string>(), {}};
        for (const auto& p : s.at("points"))
          series.points.emplace_back(p.at(0).get<double>(), p.at(1).get<double>());
        chart.series.push_back(std::move(series));
      }
      const std::string file = c.at("file").get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos ||
          fs::path(file).extension() != ".svg") {
        throw Error("a chart's file is a name ending in .svg, got '" + file + "'");
      }
      write(fs::path(dir) / file, chart.svg());
      files.push_back(file);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("chart file '" + spec_path + "': " + e.what() +
                " (expected {\"charts\": [{\"file\", \"title\", \"x_label\", \"y_label\", "
                "\"series\": [{\"name\", \"points\": [[x, y], ...]}]}]})");
  }
  return files;
}

} // namespace chameleon::emit
