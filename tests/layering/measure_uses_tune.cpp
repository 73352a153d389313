// Must not compile: measure is below tune, so chameleon_measure does not see tune's headers
// (tests/CMakeLists.txt, layering_enforced).
#include "chameleon/measure/builder.hpp"
#include "chameleon/tune/tuner.hpp"
