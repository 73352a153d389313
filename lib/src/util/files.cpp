#include "chameleon/util/files.hpp"

#include "chameleon/util/error.hpp"

#include <filesystem>
#include <fstream>

namespace chameleon::util {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error("cannot write " + path);
}

void make_folder(const std::string& path, const std::string& what) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("cannot create " + what + " '" + path + "': " + ec.message());
}

} // namespace chameleon::util
