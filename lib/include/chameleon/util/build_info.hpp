#pragma once

namespace chameleon::util {

// The commit this binary was built from ("08fcb3a1b2c3", "+modified" when lib/, apps/, templates/
// or kernels/ had uncommitted changes; CHAMELEON_COMMIT at build time outside a git checkout;
// "unknown" otherwise). Every tuning run and slice collection records it.
const char* source_revision();

} // namespace chameleon::util
