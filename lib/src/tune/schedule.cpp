// The tasks of a tune over its devices and lanes, within the time limit.
#include "chameleon/tune/schedule.hpp"

#include "chameleon/cuda/device.hpp"
#include "chameleon/tune/tuning_log.hpp"

#include "chameleon/tune/provenance.hpp"
#include "chameleon/util/error.hpp"
#include "chameleon/util/interrupt.hpp"

#include "clock.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

namespace chameleon::tune {

int auto_lanes(size_t cores, uint64_t gpu_memory, size_t tasks) {
  const size_t per_cores = std::max<size_t>(1, cores / 2);
  const size_t per_memory = gpu_memory == 0 ? 8 : std::max<size_t>(1, size_t(gpu_memory >> 32));
  return int(std::max<size_t>(1, std::min({per_cores, per_memory, tasks, size_t(8)})));
}

std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    TuneEnv& env) {
  std::vector<TuneEnv*> envs = {&env};
  return tune_tasks(tasks, o, envs);
}

std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    const std::vector<TuneEnv*>& envs) {
  if (envs.empty()) throw Error("tune_tasks needs at least one device");
  {
    TunerParts parts = make_tuner(o);
    const TuneEnv& first = *envs.front();
    nlohmann::json header = {
        {"run", run_id(o)},
        {"settings", to_json(o)},
        {"devices", envs.size()},
        {"provenance", run_provenance(first.runner, first.builder, first.target)}};
    header["settings"]["explorer"] = parts.explorer ? parts.explorer->settings() : nlohmann::json();
    header["settings"]["sampler"] = parts.sampler->settings();
    envs.front()->log.append_comment("chameleon-run " + header.dump());
  }
  std::vector<TaskOutcome> out(tasks.size());
  std::vector<char> started(tasks.size(), 0);
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::exception_ptr error;
  // A time limit: a task that starts with T seconds left and R tasks not started yet (itself
  // included), W loops side by side, gets T * W / R of them (at most T).
  const std::optional<Clock::time_point> run_deadline =
      o.time_limit_s > 0 ? std::optional<Clock::time_point>(
                               Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(o.time_limit_s)))
                         : std::nullopt;
  auto options_for = [&](size_t i) {
    TuneOptions task_options = o;
    if (run_deadline)
      task_options.deadline =
          share_of(*run_deadline, double(envs.size()) / double(tasks.size() - i));
    return task_options;
  };
  // After each task, where the run stands: the tasks left at the mean time of the ended ones
  // that measured (a resumed task ends at once), shared by the loops, within the time limit.
  const auto run_start = Clock::now();
  std::mutex run_mu;
  int ended = 0, measured_tasks = 0;
  double measured_wall = 0;
  auto task_ended = [&](const TaskOutcome& outcome, TuneEnv& env) {
    std::lock_guard<std::mutex> lock(run_mu);
    ++ended;
    if (outcome.new_trials > 0) {
      ++measured_tasks;
      measured_wall += outcome.wall_s;
    }
    RunProgress p;
    p.done = ended;
    p.count = int(tasks.size());
    p.elapsed_s = since(run_start);
    if (measured_tasks > 0 && !util::interrupt_requested()) { // interrupted: nothing more is coming
      p.left_s = double(p.count - ended) * measured_wall / measured_tasks / double(envs.size());
      if (run_deadline) {
        p.left_s = std::min(
            p.left_s,
            std::max(0.0, std::chrono::duration<double>(*run_deadline - Clock::now()).count()));
      }
    }
    env.progress.run_progress(p);
  };
  // One worker per device: each takes the next task, with its own explorer and sampler (a PPO
  // agent carries over between the tasks one device tunes).
  auto work = [&](TuneEnv* env) {
    try {
      TunerParts parts = make_tuner(o);
      for (size_t i = next++; i < tasks.size() && !util::interrupt_requested(); i = next++) {
        started[i] = 1;
        out[i] = tune_task(tasks[i], options_for(i), *env, parts, int(i) + 1, int(tasks.size()));
        task_ended(out[i], *env);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      next = tasks.size();
    }
  };
  if (envs.size() == 1) {
    work(envs.front());
  } else {
    std::vector<std::thread> threads;
    for (TuneEnv* env : envs) threads.emplace_back(work, env);
    for (auto& th : threads) th.join();
  }
  if (error) std::rethrow_exception(error);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (started[i]) continue;
    out[i].task = tasks[i];
    out[i].skipped = "not started: interrupted";
    out[i].stop = {StopReason::Interrupted};
  }
  return out;
}

int resolve_lanes(const std::string& text, bool real_gpu, size_t devices, size_t tasks, int gpu) {
  if (text == "auto") {
    if (!real_gpu || devices != 1 || tasks < 2) return 1;
    uint64_t memory = 0;
    try {
      memory = cuda::query_device(gpu).total_memory;
    } catch (const std::exception&) {
      // The runner reports a GPU it cannot use; the lane count does not matter then.
    }
    return auto_lanes(std::thread::hardware_concurrency(), memory, tasks);
  }
  int n = 0;
  try {
    size_t used = 0;
    n = std::stoi(text, &used);
    if (used != text.size()) n = 0;
  } catch (const std::exception&) {
    n = 0;
  }
  if (n < 1 || n > 16)
    throw Error("--lanes: expected auto or a number from 1 to 16, got '" + text + "'");
  return n;
}

void check_device_list(const std::vector<int>& ordinals) {
  for (size_t i = 0; i < ordinals.size(); ++i) {
    if (std::count(ordinals.begin(), ordinals.begin() + long(i), ordinals[i]) > 0) {
      throw Error("--devices: GPU " + std::to_string(ordinals[i]) +
                  " is named twice (to tune several tasks at once on one GPU, use --lanes)");
    }
  }
}

std::vector<std::unique_ptr<measure::Runner>>
make_loop_runners(const RunnerFactory& make_runner, const std::vector<int>& ordinals, int lanes) {
  std::vector<std::unique_ptr<measure::Runner>> runners;
  for (int ordinal : ordinals) {
    auto turn = std::make_shared<std::mutex>();
    for (int lane = 0; lane < lanes; ++lane) {
      auto r = make_runner(ordinal);
      runners.push_back(lanes > 1 ? measure::take_turns(std::move(r), turn) : std::move(r));
    }
  }
  for (size_t i = 1; i < runners.size(); ++i) {
    if (runners[i]->fingerprint() != runners[0]->fingerprint()) {
      const int o = ordinals[i / size_t(lanes)];
      throw Error("--devices: GPU " + std::to_string(o) + " (" + runners[i]->fingerprint() +
                  ") differs from GPU " + std::to_string(ordinals[0]) + " (" +
                  runners[0]->fingerprint() + "): tune different GPUs into different logs");
    }
  }
  return runners;
}

std::vector<Record> load_history(const std::vector<std::string>& paths,
                                 const std::string& log_path) {
  std::vector<Record> history;
  for (const auto& path : paths) {
    const std::vector<std::string> files = log_files(path);
    if (files.empty())
      spdlog::warn("history {}: a folder without logs (.jsonl or .jsonl.gz)", path);
    for (const auto& h : files) {
      std::error_code ec;
      if (std::filesystem::equivalent(h, log_path, ec)) {
        spdlog::info("history {} is the tuning log itself: its records are used already", h);
        continue;
      }
      auto contents = read_log(h);
      spdlog::info("history {}: {} records", h, contents.records.size());
      history.insert(history.end(), contents.records.begin(), contents.records.end());
    }
  }
  return history;
}

void share_fit_threads(TuneOptions& o, size_t loops, unsigned cores) {
  if (o.model.threads == 0 && loops > 1) o.model.threads = std::max(1, int(cores) / int(loops));
}

} // namespace chameleon::tune
