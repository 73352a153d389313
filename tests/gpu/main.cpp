// The [gpu] test program: the real measurement path. Without a usable GPU it exits with 77, which
// ctest reports as skipped, so the suite passes on machines without one.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "chameleon/measure/runner.hpp"
#include "chameleon/measure/worker.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  if (auto rc = chameleon::measure::run_worker_if_requested(argc, argv)) return *rc;
  std::string why;
  if (!chameleon::measure::gpu_available(&why)) {
    std::printf("skipping the [gpu] tests: %s\n", why.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
