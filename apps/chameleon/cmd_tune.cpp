// `chameleon tune`: search each task's design space and log every measurement.
#include "commands.hpp"
#include "options.hpp"

#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/compile_cache.hpp"
#include "chameleon/measure/runner.hpp"
#include "chameleon/tune/schedule.hpp"
#include "chameleon/tune/status.hpp"
#include "chameleon/tune/tuner.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"
#include "chameleon/util/strings.hpp"
#include "chameleon/util/table.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

namespace chameleon::app {

namespace {

struct TuneArgs {
  NetworkOptions net;
  DeviceOptions dev;
  tune::TuneOptions tune;
  std::string tasks;
  std::string log;
  std::vector<std::string> history;
  std::string progress = "text";
  std::string devices;        // --devices 0,1,...
  std::string lanes = "auto"; // --lanes: tasks tuned at once per device (auto or 1..16)
  std::string templates;      // --templates a,b
  std::string shard;          // --shard I/N
  bool as_json = false;
};

// "I/N" -> (I, N) with 0 <= I < N.
std::pair<int, int> parse_shard(const std::string& text) {
  auto slash = text.find('/');
  auto parts = slash == std::string::npos
                   ? std::vector<int>{}
                   : std::vector<int>{util::parse_int_list(text.substr(0, slash), "--shard")[0],
                                      util::parse_int_list(text.substr(slash + 1), "--shard")[0]};
  if (parts.size() != 2 || parts[1] < 1 || parts[0] < 0 || parts[0] >= parts[1]) {
    throw Error("--shard takes I/N with 0 <= I < N (e.g. 0/4), got '" + text + "'");
  }
  return {parts[0], parts[1]};
}

// "a,b" -> {"a", "b"}, each checked against the registry.
std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(',', start);
    std::string name =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    codegen::find_template(name); // throws, naming the known ones
    out.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// NETWORK[-PRECISION][-nhwc]-TARGET[-DEVICE].jsonl, the precision named unless fp32.
std::string default_log_path(const LoadedNetwork& loaded, const ResolvedDevice& rd) {
  const std::string precision = (loaded.precision == "fp32" ? "" : "-" + loaded.precision) +
                                (loaded.layout == task::Layout::nhwc ? "-nhwc" : "");
  return loaded.net.name + precision + "-" + rd.target.name +
         (rd.device == "cuda" ? "" : "-" + rd.device) + ".jsonl";
}

nlohmann::json outcome_json(const tune::TaskOutcome& o) {
  nlohmann::json j = {{"task", o.task.index},       {"workload", o.task.workload.str()},
                      {"count", o.task.count},      {"template", o.template_name},
                      {"skipped", o.skipped},       {"trials", o.trials},
                      {"new_trials", o.new_trials}, {"invalid", o.invalid},
                      {"failed", o.failed},         {"stop_reason", o.stop_text()},
                      {"wall_s", o.wall_s},         {"build_wait_s", o.build_wait_s},
                      {"measure_s", o.measure_s},   {"explore_s", o.explore_s},
                      {"fit_s", o.fit_s},           {"sample_s", o.sample_s},
                      {"modelled_s", o.modelled_s}};
  if (o.best) {
    j["best"] = {{"seconds", o.best->seconds()},
                 {"gflops", double(o.task.workload.flops()) / o.best->seconds() / 1e9},
                 {"config", {{"index", o.best->index}, {"entity", o.best->entity}}},
                 {"trial", o.best_trial}};
  }
  return j;
}

void print_summary(const std::vector<tune::TaskOutcome>& outcomes, const LoadedNetwork& loaded,
                   const measure::Runner& runner, const target::Target& tgt, const TuneArgs& a,
                   double wall, int loops) {
  using Align = util::Table::Align;
  util::Table table({"task", "workload", "count", "trials", "new", "best us", "GFLOPS", "% peak",
                     "invalid", "failed", "template", "config"},
                    {Align::Right, Align::Left, Align::Right, Align::Right, Align::Right,
                     Align::Right, Align::Right, Align::Right, Align::Right, Align::Right,
                     Align::Left, Align::Right});
  double total = 0, measure_s = 0, build_s = 0, explore_s = 0, fit_s = 0, charged_s = 0;
  int new_trials = 0;
  bool charged = false;
  std::vector<std::string> missing, best_templates;
  for (const auto& o : outcomes) {
    measure_s += o.measure_s;
    build_s += o.build_wait_s;
    explore_s += o.explore_s + o.sample_s;
    fit_s += o.fit_s;
    charged_s += o.modelled_s;
    charged = charged || o.charged;
    new_trials += o.new_trials;
    if (!o.best) {
      missing.push_back(std::to_string(o.task.index));
      table.add_row({std::to_string(o.task.index), o.task.workload.str(),
                     std::to_string(o.task.count), std::to_string(o.trials),
                     std::to_string(o.new_trials),
                     o.skipped.empty() ? "-"
                     : o.interrupted() ? "not run"
                                       : "skipped",
                     "-", "-", std::to_string(o.invalid), std::to_string(o.failed), "-", "-"});
      continue;
    }
    const double s = o.best->seconds();
    const double gflops = double(o.task.workload.flops()) / s / 1e9;
    best_templates.push_back(o.best->template_name);
    total += s * o.task.count;
    table.add_row({std::to_string(o.task.index), o.task.workload.str(),
                   std::to_string(o.task.count), std::to_string(o.trials),
                   std::to_string(o.new_trials), util::fixed(s * 1e6, 2), util::fixed(gflops, 0),
                   util::fixed(100 * gflops / tgt.peak_fp32_gflops(), 1), std::to_string(o.invalid),
                   std::to_string(o.failed), o.best->template_name, std::to_string(o.best->index)});
  }
  // Shares of the tuning loops' time: with several devices or lanes, loops run side by side.
  auto share = [&](double v) {
    return util::fixed(wall > 0 ? 100 * v / (wall * loops) : 0, 0) + "%";
  };
  std::cout << "tuned " << loaded.net.name << " on " << runner.device_name()
            << (runner.simulated() ? " [simulated]" : "") << " with " << a.tune.tuner << ": "
            << util::count_of(int64_t(outcomes.size()), "task") << ", " << new_trials
            << " new measurements in " << util::fixed(wall, 1) << " s, "
            << util::fixed(wall > 0 ? new_trials / wall : 0, 1) << " configs/s ("
            << (loops > 1 ? std::to_string(loops) + " loops: " : "") << "measuring "
            << share(measure_s) << ", waiting for builds " << share(build_s) << ", exploring "
            << share(explore_s) << ", fitting " << share(fit_s) << ")\n";
  if (charged) {
    std::cout << "charged as recorded: " << util::fixed(charged_s, 1)
              << " s (the tasks' compiles and measurements as the recording host spent them, plus "
                 "the tuner's own "
                 "work here)\n";
  }
  table.print(std::cout);
  std::cout << "conv2d total, weighted by layer counts: " << util::fixed(total * 1e6, 2) << " us";
  if (!missing.empty()) std::cout << " (without tasks " << util::join(missing, ", ") << ")";
  std::cout << "\n" << flops_count_note(best_templates);
}

// tune --json's summary.
nlohmann::json summary_json(const std::vector<tune::TaskOutcome>& outcomes,
                            const LoadedNetwork& loaded, const measure::Runner& runner,
                            const ResolvedDevice& rd, const TuneArgs& a,
                            const std::string& log_path, double wall, int lanes) {
  nlohmann::json out = {{"network", loaded.net.name},
                        {"device", runner.device_name()},
                        {"simulated", runner.simulated()},
                        {"target", rd.target.name},
                        {"tuner", a.tune.tuner},
                        {"log", log_path},
                        {"wall_s", wall},
                        {"lanes", lanes},
                        {"interrupted", util::interrupt_requested()},
                        {"options", tune::to_json(a.tune)},
                        {"tasks", nlohmann::json::array()}};
  double total = 0;
  for (const auto& o : outcomes) {
    out["tasks"].push_back(outcome_json(o));
    if (o.best) total += o.best->seconds() * o.task.count;
  }
  out["weighted_total_seconds"] = total;
  return out;
}

void run_tune(TuneArgs a, bool quiet) {
  const auto& ad = a.tune.adaptive;
  if (ad.k_min > ad.k_max) {
    throw Error("--kmeans-min (" + std::to_string(ad.k_min) + ") is above --kmeans-max (" +
                std::to_string(ad.k_max) + ")");
  }
  LoadedNetwork loaded = load(a.net);
  if (loaded.tasks.empty()) {
    spdlog::warn("{} has no conv2d layers: nothing to tune", a.net.path);
    return;
  }
  if (loaded.tf32()) a.tune.allow_tf32 = true;
  std::vector<task::Task> tasks = loaded.tasks;
  if (!a.tasks.empty()) tasks = task::select_tasks(tasks, util::parse_int_list(a.tasks, "--tasks"));
  if (!a.shard.empty()) {
    auto [index, count] = parse_shard(a.shard);
    tasks = task::shard_tasks(tasks, index, count);
    spdlog::info("shard {}/{}: tasks {}", index, count, [&] {
      std::vector<int> ids;
      for (const auto& t : tasks) ids.push_back(t.index);
      return util::join_numbers(ids, ",");
    }());
  }
  ResolvedDevice rd = resolve_device(a.dev);
  a.tune.seed = a.dev.measure.seed;
  a.tune.templates = split_names(a.templates);
  codegen::check_template_names(a.tune.templates, a.tune.allow_tf32);
  tune::make_tuner(a.tune); // reject an unknown tuner before any work
  // A template the target is too old for, said once, when it would take one of the tasks (a
  // float32 tune for Pascal says nothing of the fp16 tensor cores; nor does an fp16 tune for an
  // A100 of sm_90a's wgmma, a template for one architecture).
  auto takes_a_task = [&tasks](const codegen::Template& tmpl) {
    return std::any_of(tasks.begin(), tasks.end(), [&tmpl](const task::Task& t) {
      return tmpl.decline_reason(t.workload).empty();
    });
  };
  for (const codegen::Template* tmpl : codegen::templates()) {
    const bool named = !a.tune.templates.empty();
    if (codegen::template_wanted(*tmpl, a.tune.templates, a.tune.allow_tf32) &&
        !tmpl->runs_on(rd.target.sm()) && (named || tmpl->max_sm() == 0) && takes_a_task(*tmpl)) {
      spdlog::warn("{} {}; {} is {}: it is not tuned", tmpl->name(),
                   codegen::arch_need(tmpl->min_sm(), tmpl->max_sm(), rd.target.sm()),
                   rd.target.name, rd.target.arch());
    }
  }

  const std::string log_path = a.log.empty() ? default_log_path(loaded, rd) : a.log;
  tune::check_log_free(log_path); // before any worker starts; the log itself locks it below
  std::vector<int> ordinals = a.devices.empty() ? std::vector<int>{a.dev.gpu}
                                                : util::parse_int_list(a.devices, "--devices");
  tune::check_device_list(ordinals);
  const int lanes = tune::resolve_lanes(a.lanes, rd.device == "cuda", ordinals.size(), tasks.size(),
                                        ordinals.front());
  auto builder_ptr = make_builder(a.dev, rd);
  measure::Builder& builder = *builder_ptr;
  std::vector<std::unique_ptr<measure::Runner>> runners = tune::make_loop_runners(
      [&](int ordinal) { return make_device_runner(a.dev, rd, ordinal); }, ordinals, lanes);
  tune::share_fit_threads(a.tune, runners.size(), std::thread::hardware_concurrency());
  measure::Runner* runner = runners.front().get();
  if (rd.device == "recorded") {
    spdlog::info(
        "tuning on {}: every measurement is answered from {}; compiles and measurements are "
        "charged as recorded ({} compiles side by side)",
        runner->device_name(), rd.recording, runner->charged_compile_jobs());
  } else if (runner->simulated()) {
    spdlog::warn("tuning on the sim device: times are simulated, not measured");
  }

  tune::TuningLog log(log_path);
  const std::vector<tune::Record> history = tune::load_history(a.history, log_path);
  std::string progress_mode = quiet && a.progress == "text" ? "none" : a.progress;
  auto progress = tune::make_progress(progress_mode);
  spdlog::info("tuning {} tasks of {} with {} on {} ({}{}), log {}", tasks.size(), loaded.net.name,
               a.tune.tuner, runner->device_name(), rd.target.name,
               lanes > 1 ? ", " + std::to_string(lanes) + " lanes" : std::string(), log_path);
  if (a.tune.time_limit_s > 0) {
    const double limit = a.tune.time_limit_s;
    spdlog::info(
        "time limit {}: a task gets its share of the time left when it starts (about {} s "
        "each now); what is measured by then stays in the log",
        limit < 60 ? util::fixed(limit, 0) + " s" : util::fixed(limit / 60, 1) + " min",
        util::fixed(limit * double(std::min(runners.size(), tasks.size())) / double(tasks.size()),
                    0));
  }

  std::vector<tune::TuneEnv> envs;
  envs.reserve(runners.size());
  for (auto& r : runners)
    envs.push_back({rd.target, builder, *r, log, history, *progress, loaded.net.name});
  std::vector<tune::TuneEnv*> env_ptrs;
  for (auto& e : envs) env_ptrs.push_back(&e);
  // Ctrl-C from here on stops after the batch in flight, and the summary still prints.
  util::install_interrupt_handler();
  auto start = std::chrono::steady_clock::now();
  auto outcomes = tune::tune_tasks(tasks, a.tune, env_ptrs);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (a.as_json) {
    std::cout << summary_json(outcomes, loaded, *runner, rd, a, log_path, wall, lanes).dump(2)
              << "\n";
  } else {
    print_summary(outcomes, loaded, *runner, rd.target, a, wall, int(runners.size()));
    std::cout << "log: " << log_path << "\n";
  }
  if (util::interrupt_requested()) {
    std::cout.flush();
    throw util::Interrupted("interrupted: every measurement made is in " + log_path +
                            "; the same command resumes where it stopped");
  }
}

struct StatusArgs {
  std::string templates;
  bool allow_tf32 = false;
  NetworkOptions net;
  DeviceOptions dev;
  std::string log;
  bool as_json = false;
};

void run_status(const StatusArgs& a) {
  LoadedNetwork loaded = load(a.net);
  ResolvedDevice rd = resolve_device(a.dev);
  const std::string fingerprint =
      rd.device == "recorded" ? make_device_runner(a.dev, rd, a.dev.gpu)->fingerprint()
                              : measure::runner_fingerprint(rd.device, rd.target, a.dev.gpu);
  tune::LogContents contents;
  if (std::filesystem::exists(a.log)) contents = tune::read_log(a.log);
  auto statuses = tune::task_status(loaded.tasks, contents.records, rd.target.name, fingerprint,
                                    split_names(a.templates), a.allow_tf32 || loaded.tf32(),
                                    rd.target.sm(), contents.comments);
  int stale = 0, missing = 0, unfinished = 0;
  nlohmann::json rows = nlohmann::json::array();
  using Align = util::Table::Align;
  util::Table table(
      {"task", "workload", "state", "records", "best us", "why"},
      {Align::Right, Align::Left, Align::Left, Align::Right, Align::Right, Align::Left});
  for (const auto& s : statuses) {
    stale += s.state == tune::TaskState::Stale;
    missing += s.state == tune::TaskState::Missing;
    unfinished += s.state == tune::TaskState::Unfinished;
    std::string best = s.best ? util::fixed(s.best->seconds() * 1e6, 2) : "-";
    table.add_row({std::to_string(s.task.index), s.task.workload.str(), tune::state_name(s.state),
                   std::to_string(s.current) +
                       (s.outdated ? " (+" + std::to_string(s.outdated) + " old)" : ""),
                   best, s.reason});
    nlohmann::json j = {{"task", s.task.index},
                        {"workload", s.task.workload.str()},
                        {"state", tune::state_name(s.state)},
                        {"records", s.current},
                        {"outdated_records", s.outdated},
                        {"reason", s.reason}};
    if (s.best) j["best_seconds"] = s.best->seconds();
    rows.push_back(j);
  }
  if (a.as_json) {
    std::cout << nlohmann::json({{"network", loaded.net.name},
                                 {"log", a.log},
                                 {"target", rd.target.name},
                                 {"device_fingerprint", fingerprint},
                                 {"tasks", rows},
                                 {"stale", stale},
                                 {"missing", missing},
                                 {"unfinished", unfinished}})
                     .dump(2)
              << "\n";
  } else {
    std::cout << loaded.net.name << " in " << a.log << " for " << rd.target.name << " on "
              << fingerprint << ":\n";
    table.print(std::cout);
    std::cout << (stale + missing + unfinished == 0
                      ? "all tasks up to date"
                      : std::to_string(stale) + " stale, " + std::to_string(missing) + " missing" +
                            (unfinished > 0 ? ", " + std::to_string(unfinished) + " unfinished"
                                            : ""))
              << "\n";
  }
  // Non-zero for CI gates: something needs tuning.
  if (stale + missing + unfinished > 0) throw CLI::RuntimeError(1);
}

void add_status_command(CLI::App& app) {
  auto a = std::make_shared<StatusArgs>();
  auto* cmd =
      app.add_subcommand("status", "Per task: up to date, stale (why), missing or unfinished "
                                   "(interrupted) in a log; exit 1 unless all are up to date");
  add_network_options(*cmd, a->net);
  cmd->add_option("--log", a->log, "Tuning log (default NETWORK-TARGET[-sim].jsonl)");
  cmd->add_option("--target", a->dev.target, "GPU target: a preset, or auto")
      ->capture_default_str();
  cmd->add_option("--device", a->dev.device, "cuda, sim or auto")
      ->check(CLI::IsMember({"cuda", "sim", "auto"}))
      ->capture_default_str();
  cmd->add_option("--gpu", a->dev.gpu, "GPU ordinal")->check(at_least(0))->capture_default_str();
  cmd->add_option("--templates", a->templates,
                  "Templates the tasks are tuned over (default: all that tune uses unnamed)");
  cmd->add_flag("--allow-tf32", a->allow_tf32, "The tasks are also tuned over the TF32 templates");
  cmd->add_flag("--json", a->as_json, "Print JSON");
  cmd->callback([a] {
    StatusArgs args = *a;
    if (args.log.empty()) {
      LoadedNetwork loaded = load(args.net);
      args.log = default_log_path(loaded, resolve_device(args.dev));
    }
    run_status(args);
  });
}

void add_merge_command(CLI::App& app) {
  auto logs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("merge", "Combine tuning logs (e.g. shards) without duplicates or loss");
  cmd->add_option("logs", *logs, "Logs to merge")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", *out, "Merged log (may be one of the inputs)")->required();
  cmd->callback([=] {
    auto stats = tune::merge_logs(*logs, *out);
    std::cout << "merged " << logs->size() << " logs into " << *out << ": " << stats.records
              << " records (" << stats.duplicates << " duplicates dropped), " << stats.comments
              << " run lines";
    if (stats.damaged > 0) std::cout << ", " << stats.damaged << " damaged lines left out";
    std::cout << "\n";
  });
}

void add_ppo_options(CLI::App& cmd, explore::PpoOptions& p);
void add_adaptive_options(CLI::App& cmd, sample::AdaptiveOptions& ad);

// The cost model's, the explorers' and the samplers' settings.
void add_search_options(CLI::App& cmd, tune::TuneOptions& t) {
  auto& m = t.model;
  cmd.add_option("--model-loss", m.loss, "Cost model objective: reg or rank")
      ->check(CLI::IsMember({"reg", "rank"}))
      ->capture_default_str();
  cmd.add_option("--xgb-max-depth", m.max_depth, "XGBoost max_depth")
      ->check(between(1, 64))
      ->capture_default_str();
  cmd.add_option("--xgb-eta", m.eta, "XGBoost eta")->check(between(1e-6, 1))->capture_default_str();
  cmd.add_option("--xgb-gamma", m.gamma, "XGBoost gamma")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--xgb-min-child-weight", m.min_child_weight, "XGBoost min_child_weight")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--xgb-max-rounds", m.max_rounds, "XGBoost boosting rounds at most")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--xgb-early-stopping", m.early_stopping, "Rounds without a better top-k recall")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--xgb-threads", m.threads,
                 "Threads of a cost-model fit (0: one per core, shared by the loops side by side)")
      ->check(between(0, 1024))
      ->capture_default_str();
  auto& sa = t.annealing;
  cmd.add_option("--sa-parallel", sa.parallel, "Annealing: parallel chains")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--sa-steps", sa.steps, "Annealing: steps at most")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--sa-early-stop", sa.early_stop,
                 "Annealing: steps without a change of the top set")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_flag("!--no-sa-persistent", sa.persistent,
               "Annealing: restart the chains every iteration");
  add_ppo_options(cmd, t.ppo);
  add_adaptive_options(cmd, t.adaptive);
}

// PPO exploration's settings.
void add_ppo_options(CLI::App& cmd, explore::PpoOptions& p) {
  cmd.add_option("--ppo-episodes", p.episodes, "PPO: episodes per exploration")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--ppo-steps", p.steps, "PPO: steps per episode at most")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--ppo-lr", p.lr, "PPO: Adam learning rate")
      ->check(above(0))
      ->capture_default_str();
  cmd.add_option("--ppo-gamma", p.gamma, "PPO: discount")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd.add_option("--ppo-lambda", p.lambda, "PPO: GAE parameter")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd.add_option("--ppo-epochs", p.epochs, "PPO: epochs per exploration")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--ppo-clip", p.clip, "PPO: surrogate clip")
      ->check(above(0))
      ->capture_default_str();
  cmd.add_option("--ppo-value-coef", p.value_coef, "PPO: value loss coefficient")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--ppo-entropy-coef", p.entropy_coef, "PPO: entropy bonus coefficient")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--ppo-hidden", p.hidden, "PPO: units per layer")
      ->check(between(1, 4096))
      ->capture_default_str();
  cmd.add_option("--ppo-minibatch", p.minibatch,
                 "PPO: transitions per gradient step (drawn with replacement)")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--ppo-minibatches", p.minibatches,
                 "PPO: gradient steps per epoch (0: one per episode, as Chameleon's code updates "
                 "per trajectory)")
      ->check(between(0, 1024))
      ->capture_default_str();
  cmd.add_option("--ppo-stay-fraction", p.stay_fraction,
                 "PPO: an episode ends when this share of knobs stays")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd.add_option("--ppo-best-starts", p.best_starts,
                 "PPO: share of episodes starting from the best measured configs")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd.add_option("--ppo-candidates", p.candidates,
                 "PPO: size of the candidate set handed to the sampler")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_flag("--ppo-unmeasured,!--ppo-measured", p.unmeasured,
               "PPO: the candidate set holds unmeasured configs only, or measured ones too (as in "
               "the paper)");
  cmd.add_flag("!--no-ppo-keep-agent", p.keep_agent, "PPO: start every task with a fresh agent");
}

// Adaptive sampling's settings.
void add_adaptive_options(CLI::App& cmd, sample::AdaptiveOptions& ad) {
  cmd.add_option("--kmeans-min", ad.k_min, "Adaptive sampling: smallest k")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--kmeans-max", ad.k_max, "Adaptive sampling: largest k")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--kmeans-step", ad.k_step, "Adaptive sampling: step of k")
      ->check(at_least(1))
      ->capture_default_str();
  cmd.add_option("--kmeans-threshold", ad.threshold, "Adaptive sampling: knee threshold")
      ->check(above(0))
      ->capture_default_str();
  cmd.add_option(
         "--kmeans-pick", ad.pick,
         "Adaptive sampling: a cluster's config: nearest (to its centroid) or best (best-scored)")
      ->check(CLI::IsMember({"nearest", "best"}))
      ->capture_default_str();
  cmd.add_option("--kmeans-knobs", ad.cluster_knobs,
                 "Adaptive sampling: cluster on the N knobs with the most values (0: all)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd.add_option("--kmeans-epsilon", ad.epsilon,
                 "Adaptive sampling: share of random configs per batch")
      ->check(between(0, 1))
      ->capture_default_str();
}

} // namespace

void add_tune_commands(CLI::App& app, const bool& quiet) {
  add_status_command(app);
  add_merge_command(app);
  auto a = std::make_shared<TuneArgs>();
  auto* cmd =
      app.add_subcommand("tune", "Tune a network's conv2d tasks and log every measurement (Ctrl-C "
                                 "stops after the batch in flight; the same command resumes)");
  add_network_options(*cmd, a->net);
  auto& t = a->tune;
  cmd->add_option(
         "--tuner", t.tuner,
         "Search method: chameleon (PPO + adaptive sampling), chameleon-paper (the same with the "
         "paper's settings), ae (PPO + greedy), sa-as (annealing + adaptive sampling), autotvm "
         "(annealing + greedy), random")
      ->capture_default_str();
  cmd->add_option("--trials", t.trials, "Measurements per task (resumed ones count)")
      ->check(at_least(1))
      ->capture_default_str();
  cmd->add_option_function<double>(
         "--time-limit", [&t](double minutes) { t.time_limit_s = minutes * 60; },
         "Wall minutes for the whole tune (0: none): each task gets its share of the time left "
         "when it "
         "starts, and stops starting iterations when that is spent; --trials still caps each task")
      ->check(at_least(0));
  cmd->add_option_function<double>(
         "--goal-us", [&t](double us) { t.goal_s = us * 1e-6; },
         "Stop a task once a kernel at or below this many microseconds is found (0: off): a "
         "latency goal, "
         "or on a recorded slice its known optimum, after which nothing can improve")
      ->check(at_least(0));
  cmd->add_option("--early-stopping", t.early_stopping,
                  "Stop a task after this many trials without improvement (0: off)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--tasks", a->tasks, "Tasks to tune, e.g. 1,3,5-7 (default: all)");
  cmd->add_option("--log", a->log, "Tuning log (JSON lines; default NETWORK-TARGET[-sim].jsonl)");
  cmd->add_flag("!--force,!--no-resume", t.resume,
                "Retune every task even when the log is up to date (its records seed the model)");
  cmd->add_option(
      "--templates", a->templates,
      "Templates to tune over, sharing each task's trials (default: all that support it but "
      "conv2d_direct, whose space conv2d_direct_splitk contains)");
  cmd->add_flag(
      "--allow-tf32", t.allow_tf32,
      "Also tune TF32 tensor-core templates: faster, but the inputs are rounded to 10 "
      "mantissa bits (verified to 5e-3 instead of 1e-4); off by default, as fp32 promises");
  cmd->add_option("--devices", a->devices,
                  "GPUs to tune on in parallel, one task each, e.g. 0,1,2,3");
  cmd->add_option(
         "--lanes", a->lanes,
         "Tasks tuned at once on each device (1-16): one explores and compiles while another "
         "measures (measurements take turns, so timings are not disturbed); auto: on one real "
         "GPU, one per 2 cores, at most 8, one per task and one per 4 GiB of GPU memory; else 1")
      ->capture_default_str();
  cmd->add_option("--shard", a->shard,
                  "Tune only share I of N of the tasks (0 <= I < N), e.g. 2/4");
  cmd->add_option(
      "--history", a->history,
      "Extra logs (chameleon or AutoTVM v0.2; a folder: its .jsonl and .jsonl.gz files, e.g. a "
      "device's folder of the measurement dataset) whose records warm-start the model");
  cmd->add_flag("!--no-transfer", t.transfer, "Do not learn from other tasks' records");
  cmd->add_option(
         "--transfer-seeds", t.transfer_seeds,
         "A task without records first measures up to this many configs that were fastest on "
         "similar tasks of the same template (0: none; off with --no-transfer)")
      ->check(between(0, 64))
      ->capture_default_str();
  cmd->add_option(
         "--transfer-rows", t.transfer_rows,
         "Records of other tasks and --history weigh together at most as much as this many of the "
         "task's own (0: no cap)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_flag_callback(
      "--transfer-trust", [&t] { t.transfer_trust = 1; },
      "Check the records of other tasks and --history against the task's own: from its 16th "
      "record on, they weigh as much as a model of them alone ranks the task's records as "
      "measured (default: on for chameleon, ae and sa-as; off for autotvm and chameleon-paper)");
  cmd->add_flag_callback(
      "--no-transfer-trust", [&t] { t.transfer_trust = 0; },
      "Transfer weighs as AutoTVM's does, unchecked (1/2^(n/64) of a task's own n records)");
  cmd->add_option("--plan-size", t.batch,
                  "Configs measured per iteration (0: the tuner's own, 16 for chameleon, ae and "
                  "sa-as, 64 for "
                  "autotvm, random and chameleon-paper)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--compile-aware", t.compile_aware,
                  "Cost-aware sampling: a model of each config's NVRTC time, and this share of the "
                  "candidates' score spread added for the quickest to compile (0: off)")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd->add_option("--sim-prior", t.sim_prior,
                  "The first batch from this many random valid configs ranked by the sim model of "
                  "the target, instead of a random one (0: off)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_option("--neighbors", t.neighbors,
                  "Coordinate descent: each batch first measures up to this many unmeasured "
                  "configs one knob step from the best measured ones, the model's favourites "
                  "(0: off)")
      ->check(at_least(0))
      ->capture_default_str();
  cmd->add_flag("--sim-feature", t.sim_feature,
                "The sim model's estimate for each config as one more cost-model feature");
  cmd->add_option("--epsilon", t.epsilon, "Greedy sampling: share of random configs per batch")
      ->check(between(0, 1))
      ->capture_default_str();
  cmd->add_option("--progress", a->progress,
                  "Progress: text (stderr), json (lines on stdout), none")
      ->check(CLI::IsMember({"text", "json", "none"}))
      ->capture_default_str();
  cmd->add_flag("--json", a->as_json, "Print the summary as JSON");
  add_search_options(*cmd, t);
  add_device_options(*cmd, a->dev);
  cmd->callback([a, &quiet] { run_tune(*a, quiet); });
}

} // namespace chameleon::app
