#pragma once

#include "chameleon/measure/result.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace chameleon::measure {

// NVRTC's product for one source: the cubin and its resources, or the error log.
struct CompiledKernel {
  bool ok = false;
  std::string log;
  std::string cubin; // the cubin, or the PTX text for a compute_XY arch
  target::Resources resources;
  double seconds = 0;
};

// Content-addressed store of compiled kernels, in memory and (unless the directory is empty) on
// disk, keyed by the hash of source, options, arch and NVRTC version. Failed compiles are kept
// too: a config is never compiled twice. Safe to use from several threads and processes (files
// are written to a temporary name and renamed). Each entry carries its cubin's SHA-256: a damaged
// entry is a miss (compiled again, with one warning), never a kernel that is not the one compiled.
class CompileCache {
public:
  explicit CompileCache(std::string dir);
  std::optional<CompiledKernel> get(const std::string& key);
  void put(const std::string& key, const CompiledKernel& kernel);
  const std::string& dir() const { return dir_; }

  struct Stats {
    int64_t memory_hits = 0, disk_hits = 0, misses = 0;
  };
  Stats stats() const;

private:
  std::string path_for(const std::string& key) const;

  std::string dir_;
  // The first failure to write the disk cache is a warning, later ones only debug messages.
  void write_failed(const std::string& why);

  mutable std::mutex mu_;
  std::atomic<bool> write_warned_{false};
  std::atomic<bool> damage_warned_{false}; // the first damaged entry read is a warning
  std::unordered_map<std::string, CompiledKernel> memory_;
  Stats stats_;
};

// $CHAMELEON_CACHE_DIR, else $XDG_CACHE_HOME/chameleon, else ~/.cache/chameleon.
std::string default_cache_dir();

// The cache key of a compile: source, arch, NVRTC version and chameleon's NVRTC options.
std::string compile_key(const std::string& source, const std::string& arch);

// Compiles in this process unless the cache holds the kernel; caches what it compiles. `hit`
// says which.
CompiledKernel compile_cached(CompileCache& cache, const std::string& source,
                              const std::string& entry, const std::string& arch,
                              bool* hit = nullptr);

} // namespace chameleon::measure
