#pragma once

#include <CLI/CLI.hpp>

namespace chameleon::app {

// `tasks`, `targets`, `compile`, `devices`: what works without measuring anything.
void add_info_commands(CLI::App& app);
// `measure`: one config on the GPU or the sim device.
void add_measure_commands(CLI::App& app);
// `tune`: search and log. `quiet` (the global -q) turns text progress off.
void add_tune_commands(CLI::App& app, const bool& quiet);
// `collect` (every config of a slice), `dataset` (what a recording holds).
void add_dataset_commands(CLI::App& app);
// `replay`, `bench`, `report`.
void add_emit_commands(CLI::App& app);

} // namespace chameleon::app
