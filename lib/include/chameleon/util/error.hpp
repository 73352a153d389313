#pragma once

#include <stdexcept>
#include <string>

namespace chameleon {

// The library's exception for user-facing failures: the message says what went wrong and, where
// it can, what to do about it. The CLI prints it as one line and exits non-zero.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace chameleon
