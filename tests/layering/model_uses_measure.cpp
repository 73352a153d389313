// Must not compile: the cost model does not depend on measurement (the resources it reads are
// target::Resources), so chameleon_model does not see measure's headers.
#include "chameleon/measure/result.hpp"
#include "chameleon/model/features.hpp"
