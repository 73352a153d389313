#include "chameleon/measure/compile_cache.hpp"

#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/measure/builder.hpp"
#include "chameleon/util/sha256.hpp"

#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace chameleon::measure {

namespace fs = std::filesystem;

namespace {
// Bound on kernels held in memory (cubins are tens of KB each).
constexpr size_t kMaxMemoryEntries = 20000;
// Part of every cache key: bump when the NVRTC options in nvrtc_compile change.
constexpr const char* kCompileOptionsTag = "std=c++17 default-device ptxas-v v1";
} // namespace

CompileCache::CompileCache(std::string dir) : dir_(std::move(dir)) {}

std::string CompileCache::path_for(const std::string& key) const {
  return dir_ + "/kernels/" + key.substr(0, 2) + "/" + key + ".bin";
}

namespace {
enum class Entry { Good, Missing, Old, Damaged };

// Format: one JSON line of metadata, then the raw cubin.
Entry read_entry(const std::string& path, CompiledKernel& k) {
  std::ifstream in(path, std::ios::binary);
  std::string meta_line;
  if (!in || !std::getline(in, meta_line)) return Entry::Missing;
  try {
    auto meta = nlohmann::json::parse(meta_line);
    k.ok = meta.at("ok").get<bool>();
    k.log = meta.at("log").get<std::string>();
    k.resources = target::resources_from_json(meta.at("resources"));
    k.seconds = meta.at("seconds").get<double>();
    const size_t size = meta.at("cubin_bytes").get<size_t>();
    k.cubin.resize(size);
    in.read(k.cubin.data(), std::streamsize(size));
    if (size_t(in.gcount()) != size) return Entry::Damaged;
    // An entry from before the checksum: the next put rewrites it.
    if (!meta.contains("cubin_sha256")) return Entry::Old;
    return meta.at("cubin_sha256").get<std::string>() == util::sha256_hex(k.cubin) ? Entry::Good
                                                                                   : Entry::Damaged;
  } catch (const std::exception&) {
    return Entry::Damaged;
  }
}
} // namespace

std::optional<CompiledKernel> CompileCache::get(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memory_.find(key);
    if (it != memory_.end()) {
      ++stats_.memory_hits;
      return it->second;
    }
  }
  if (!dir_.empty()) {
    CompiledKernel k;
    const Entry entry = read_entry(path_for(key), k);
    if (entry == Entry::Good) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.disk_hits;
      if (memory_.size() >= kMaxMemoryEntries) memory_.clear();
      memory_[key] = k;
      return k;
    }
    if (entry == Entry::Damaged) {
      // Cut short, garbled, or a cubin that is not the one compiled: loaded, it could fail or
      // compute garbage, and the config would be logged as failed for good. The next put replaces
      // it.
      if (!damage_warned_.exchange(true)) {
        spdlog::warn("compile cache: damaged entry {} ignored, the kernel is compiled again (later "
                     "damaged entries are not reported)",
                     path_for(key));
      } else {
        spdlog::debug("compile cache: ignoring damaged entry {}", path_for(key));
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.misses;
  return std::nullopt;
}

void CompileCache::put(const std::string& key, const CompiledKernel& kernel) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (memory_.size() >= kMaxMemoryEntries) memory_.clear();
    memory_[key] = kernel;
  }
  if (dir_.empty()) return;
  std::string path = path_for(key);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    write_failed("cannot create " + fs::path(path).parent_path().string() + ": " + ec.message());
    return;
  }
  nlohmann::json meta = {{"ok", kernel.ok},
                         {"log", kernel.log},
                         {"resources", target::to_json(kernel.resources)},
                         {"seconds", kernel.seconds},
                         {"cubin_bytes", kernel.cubin.size()},
                         {"cubin_sha256", util::sha256_hex(kernel.cubin)}};
  std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "_" +
                    std::to_string(std::hash<std::string>{}(key) ^ uintptr_t(&kernel));
  {
    std::ofstream out(tmp, std::ios::binary);
    out << meta.dump() << "\n";
    out.write(kernel.cubin.data(), std::streamsize(kernel.cubin.size()));
    if (!out) {
      write_failed("cannot write " + tmp);
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
}

void CompileCache::write_failed(const std::string& why) {
  if (!write_warned_.exchange(true)) {
    spdlog::warn(
        "compile cache: {}; compiled kernels stay in memory only (CHAMELEON_CACHE_DIR picks "
        "another folder; further write failures are not reported)",
        why);
  } else {
    spdlog::debug("compile cache: {}", why);
  }
}

CompileCache::Stats CompileCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("CHAMELEON_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/chameleon";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/chameleon";
  return ".chameleon-cache";
}

std::string compile_key(const std::string& source, const std::string& arch) {
  return util::sha256_hex("nvrtc " + cuda::nvrtc_version(cuda::arch_sm(arch)) + "\narch " + arch +
                          "\noptions " + kCompileOptionsTag + "\n" + source);
}

CompiledKernel compile_cached(CompileCache& cache, const std::string& source,
                              const std::string& entry, const std::string& arch, bool* hit) {
  const std::string key = compile_key(source, arch);
  if (auto cached = cache.get(key)) {
    if (hit) *hit = true;
    return *cached;
  }
  if (hit) *hit = false;
  CompiledKernel k = compile_kernel(source, entry, arch);
  cache.put(key, k);
  return k;
}

} // namespace chameleon::measure
