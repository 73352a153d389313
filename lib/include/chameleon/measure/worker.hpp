#pragma once

#include <optional>

namespace chameleon::measure {

// Every executable that starts workers (the chameleon binary, the test programs) calls this
// first thing in main(): when argv asks for a worker role ("compile", "cuda") it serves requests
// on fd 3 until the parent goes away and returns the exit code; otherwise it returns nothing.
std::optional<int> run_worker_if_requested(int argc, char** argv);

} // namespace chameleon::measure
