// The unit test program. It doubles as a chameleon worker (the builder's compile workers are
// this executable), so it dispatches worker invocations before Catch2 sees the arguments.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "chameleon/measure/worker.hpp"

int main(int argc, char** argv) {
  if (auto rc = chameleon::measure::run_worker_if_requested(argc, argv)) return *rc;
  return Catch::Session().run(argc, argv);
}
