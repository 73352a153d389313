#pragma once

#include "chameleon/measure/runner.hpp"
#include "chameleon/tune/record.hpp"
#include "chameleon/tune/tuner.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// The tasks of a tune over devices and lanes: what `chameleon tune` sets up before the loops run
// (lanes, runners, --history, the cost model's threads) and the run itself.
namespace chameleon::tune {

// Tunes the tasks in order; tasks without a template are reported as skipped.
std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    TuneEnv& env);
// Several devices (one env each, sharing builder, log and progress): each device tunes the next
// task not yet taken, in parallel. Outcomes are in task order.
std::vector<TaskOutcome> tune_tasks(const std::vector<task::Task>& tasks, const TuneOptions& o,
                                    const std::vector<TuneEnv*>& envs);

// `tune --lanes auto` on one real GPU: one lane per two cores, at most 8, at most one per task and
// one per 4 GiB of GPU memory (each lane's worker holds a CUDA context, the task's tensors and up
// to 1 GB of split-K workspace); at least 1. gpu_memory 0: unknown, no cap from it.
int auto_lanes(size_t cores, uint64_t gpu_memory, size_t tasks);

// --lanes: "auto" or a number from 1 to 16 (else chameleon::Error). auto: on one real GPU
// (`real_gpu`, `devices` 1) with tasks to share, auto_lanes with this machine's cores and GPU
// `gpu`'s memory; else 1: the sim stays reproducible run to run, and several devices get one
// lane each.
int resolve_lanes(const std::string& text, bool real_gpu, size_t devices, size_t tasks, int gpu);

// Refuses a GPU named twice in --devices (two loops on one GPU would only wait for each other's
// turns: that is what lanes are for).
void check_device_list(const std::vector<int>& ordinals);

// One runner per device and lane, made by `make_runner(ordinal)`: the lanes of one GPU take turns
// measuring on it (measure::take_turns). Devices whose fingerprints differ are refused: their
// records belong in different logs.
using RunnerFactory = std::function<std::unique_ptr<measure::Runner>(int ordinal)>;
std::vector<std::unique_ptr<measure::Runner>>
make_loop_runners(const RunnerFactory& make_runner, const std::vector<int>& ordinals, int lanes);

// The records of --history: each path a log or a folder of logs (tune::log_files); the tuning
// log itself is skipped (its records are used already), and a folder without logs is warned of.
std::vector<Record> load_history(const std::vector<std::string>& paths,
                                 const std::string& log_path);

// Every loop fits its own cost model: with ModelOptions::threads 0 (one per core), loops side by
// side share the cores instead of each starting a team of one thread per core.
void share_fit_threads(TuneOptions& o, size_t loops, unsigned cores);

} // namespace chameleon::tune
