// chameleon: the command line. It parses options and hands them to chameleon_core.
#include "commands.hpp"

#include "chameleon/measure/worker.hpp"
#include "chameleon/util/build_info.hpp"
#include "chameleon/util/interrupt.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  // Compile and measurement workers are this same binary, started with a hidden first argument.
  if (auto rc = chameleon::measure::run_worker_if_requested(argc, argv)) return *rc;

  auto logger = spdlog::stderr_color_mt("chameleon");
  logger->set_pattern("%^[%l]%$ %v");
  spdlog::set_default_logger(logger);

  CLI::App app{"chameleon: an autotuning compiler for CUDA conv2d kernels"};
  app.set_version_flag("--version", std::string("chameleon " CHAMELEON_VERSION " (") +
                                        chameleon::util::source_revision() + ")");
  app.require_subcommand(1);
  app.fallthrough(); // global flags (-v, -q) also after the command
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "Log debug messages");
  app.add_flag("-q,--quiet", quiet, "Log only errors");
  // Set as the option is read, before any command runs; the compile workers inherit it.
  app.add_option_function<std::string>(
         "--nvrtc",
         [](const std::string& path) {
           const char* before = std::getenv("CHAMELEON_NVRTC");
           const std::string paths = before && *before ? path + ":" + before : path;
           ::setenv("CHAMELEON_NVRTC", paths.c_str(), 1);
         },
         "An NVRTC library (libnvrtc.so.N) or a folder of one, looked at first (also: the "
         "CHAMELEON_NVRTC variable, ':'-separated); e.g. a CUDA 12 NVRTC for sm_61 and sm_70")
      ->check(CLI::ExistingPath);
  app.add_option_function<std::string>(
      "--nvrtc-version",
      [](const std::string& v) { ::setenv("CHAMELEON_NVRTC_VERSION", v.c_str(), 1); },
      "Use only this NVRTC version (12, 13 or e.g. 12.9; also CHAMELEON_NVRTC_VERSION), e.g. to "
      "compare two on one arch");
  app.parse_complete_callback([&] {
    spdlog::set_level(verbose ? spdlog::level::debug
                      : quiet ? spdlog::level::err
                              : spdlog::level::info);
  });
  chameleon::app::add_info_commands(app);
  chameleon::app::add_measure_commands(app);
  chameleon::app::add_tune_commands(app, quiet);
  chameleon::app::add_dataset_commands(app);
  chameleon::app::add_emit_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const chameleon::util::Interrupted& e) {
    std::fflush(stdout);
    std::cout.flush();
    std::fprintf(stderr, "chameleon: %s\n", e.what());
    return 130;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cout.flush();
    std::fprintf(stderr, "chameleon: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
