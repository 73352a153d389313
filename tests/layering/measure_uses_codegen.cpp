// Must compile: measure is above codegen, target and util.
#include "chameleon/codegen/template.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/target/resources.hpp"
#include "chameleon/util/error.hpp"
