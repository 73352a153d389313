#pragma once

#include "chameleon/emit/manifest.hpp"
#include "chameleon/tune/record.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace chameleon::emit {

// The best verified record of every workload a log holds for one device.
struct Selection {
  std::string device;               // the device chosen
  std::vector<std::string> devices; // every device the log has records of
  std::vector<tune::Record> best;   // one per workload with a valid record
  // Workloads with records on the device but none valid, with why ("64 records, all failed").
  std::vector<std::pair<task::Conv2dWorkload, std::string>> missing;
  int tf32_skipped = 0; // valid records of TF32 templates left out (not allowed)
  // One line per selected record that an older version of its template made (the kernel replay
  // emits is today's code for its config, not the one that was timed).
  std::vector<std::string> stale;
  // One line per record left out because its config does not fit its task (a damaged or edited
  // record that would otherwise have been chosen): the next fastest is used instead.
  std::vector<std::string> damaged;
};

// `device` empty: the device of the log's last record. Ties are broken by the lower spread.
// Ordered by task index, then by first appearance. Records of TF32 templates compete only with
// allow_tf32. Records made by the current version of their template (its fingerprint; AutoTVM's
// records count as current) win over those of older versions, which are used only for a workload
// without current ones, and only when today's template can express their config.
Selection select_best(const std::vector<tune::Record>& records, const std::string& device = "",
                      bool allow_tf32 = false);

// What a replay left out or took with a caveat, as warnings: the records left out as damaged, the
// tasks without a kernel (and why), the kernels timed on an older template, and the TF32 records
// not allowed.
void warn_selection(const Selection& sel);

struct ReplayResult {
  Selection selection;
  Manifest manifest; // also written to DIR/manifest.json
};

struct ReplayOptions {
  std::string device;    // records of this device (default: the log's last)
  std::string cache_dir; // the compile cache (a tune's kernels are found there)
  bool allow_tf32 = false;
  // The arch to compile for (sm_XY), chosen deliberately; empty: each record's own (its target's
  // GPU; a record made on the sim for a target the tune's NVRTC could not compile for holds the
  // arch it used instead, which replay says).
  std::string arch;
};

// Regenerates the source of every selected kernel, compiles it with NVRTC for the record's arch
// (cubin; from the compile cache when tuning compiled it already) and as PTX (forward
// compatibility), and writes to `dir`: per task NAME.cu, NAME.cubin, NAME.ptx; manifest.json
// (docs/deploy.md); kernels.hpp with a launch function per task. Works without a GPU. The same log
// gives the same bytes. Throws chameleon::Error when a kernel does not build any more (another
// toolkit or template), when a record does not say its arch, or when no NVRTC here compiles for
// it (naming the fix). Records of AutoTVM templates chameleon does not have are counted, one
// warning per template.
ReplayResult replay(const std::string& log_path, const std::string& dir,
                    const ReplayOptions& options = {});

} // namespace chameleon::emit
