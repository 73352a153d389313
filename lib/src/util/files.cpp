#include "chameleon/util/files.hpp"

#include "chameleon/util/error.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#ifdef CHAMELEON_HAVE_ZLIB
#include <zlib.h>
#endif

namespace chameleon::util {

namespace {

#ifdef CHAMELEON_HAVE_ZLIB
std::string gunzip(const std::string& bytes, const std::string& where) {
  z_stream z{};
  // 15 + 32: a zlib or gzip header, detected.
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw Error(where + ": cannot start zlib");
  std::string out;
  char chunk[1 << 16];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = uInt(bytes.size());
  int rc = Z_OK;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof(chunk) - z.avail_out);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z); // the next gzip member (concatenated files, `cat a.gz b.gz`)
      continue;
    }
    if (rc != Z_OK) break;
    if (z.avail_in == 0 && z.avail_out != 0) break; // input ends before the stream does
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    throw Error(
        where + ": damaged or cut-off gzip data (" +
        (rc == Z_OK || rc == Z_BUF_ERROR ? "it ends early" : "zlib error " + std::to_string(rc)) +
        ")");
  }
  return out;
}
#endif

} // namespace

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + what + " '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  if (!is_gzip(bytes)) return bytes;
#ifdef CHAMELEON_HAVE_ZLIB
  return gunzip(bytes, what + " '" + path + "'");
#else
  throw Error(what + " '" + path + "' is gzip data and this chameleon was built without zlib: " +
              "decompress it first (gzip -dk '" + path + "') or build with zlib");
#endif
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  if (!out) throw Error("cannot write " + path);
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  const std::string text = read_file(path, what);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(what + " '" + path + "' is not valid JSON: " + e.what());
  }
}

void make_folder(const std::string& path, const std::string& what) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("cannot create " + what + " '" + path + "': " + ec.message());
}

} // namespace chameleon::util
