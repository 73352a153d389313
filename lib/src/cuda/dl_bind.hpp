#pragma once

#include <dlfcn.h>

#include <string>

namespace chameleon::cuda {

// Looks a symbol up in a dlopen'ed library; the first missing one is remembered in `error`.
template <class Fn>
void bind_symbol(void* lib, Fn& fn, const char* symbol, const char* library, std::string& error) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (fn == nullptr && error.empty())
    error = std::string(library) + " lacks " + symbol + " (too old?)";
}

} // namespace chameleon::cuda
