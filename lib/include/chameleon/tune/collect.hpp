#pragma once

#include "chameleon/tune/slice.hpp"
#include "chameleon/tune/tuner.hpp"

#include <optional>
#include <string>

namespace chameleon::tune {

struct CollectOptions {
  uint64_t seed = 0;       // the order configs are measured in: a uniform shuffle
  int limit = 0;           // measure at most this many configs in this run (0: all that are left)
  double time_limit_s = 0; // start no batch after this many seconds (0: none)
  int batch = 0; // configs queued on the builder at once (0: four per compile job, at least 16)
};

// Where a slice's collection stands after a run.
struct CollectOutcome {
  int64_t size = 0; // configs in the slice
  int tunable = 0;  // those tuning measures (the others fail the static check or repeat a kernel)
  int before = 0;   // recorded for this device and template version before this run
  int measured = 0; // by this run
  int ok = 0, invalid = 0, failed = 0; // over every recorded config of the slice
  std::optional<Record> best;          // the fastest recorded config of the slice
  Stop stop;                           // Complete, CollectLimit, TimeLimit or Interrupted
  double wall_s = 0;

  int recorded() const { return before + measured; }
  bool complete() const { return recorded() >= tunable; }
};

// Measures every tunable config of the slice that the log does not hold yet for this device and
// template version (`chameleon collect`): a run that stops early (--limit, a time limit, Ctrl-C)
// is resumed by the next, and since the configs go in a shuffled order, what a partial collection
// holds is a uniform sample of the slice. The first batch is preceded by a "# chameleon-run" line
// holding the slice and the run's provenance; records are logged as they are measured (tuner
// "collect").
CollectOutcome collect_slice(const Slice& s, const CollectOptions& o, TuneEnv& env);

} // namespace chameleon::tune
