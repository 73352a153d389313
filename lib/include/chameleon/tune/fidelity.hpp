#pragma once

#include "chameleon/tune/recording.hpp"

#include <string>

namespace chameleon::tune {

// How well the sim device ranks a recorded slice's configs: the sim's prediction of every config
// (from its recorded registers and shared memory, as the sim uses NVRTC's) against what the
// device measured.
struct SimFidelity {
  int compared = 0;            // configs measured (error 0) that the sim can launch
  int sim_unlaunchable = 0;    // measured configs the sim would call unlaunchable
  int failed_launchable = 0;   // configs that failed on the device that the sim would have timed
  double spearman = 0;         // rank correlation of predicted and measured times over `compared`
  int top1 = 0;                // the device's top 1% of `compared` (at least one config)
  double top1_in_sim_top5 = 0; // the share of those the sim ranks in its top 5%
  // The measured time of the device's fastest config over that of the sim's fastest: what
  // picking by the sim alone would reach (1 = the optimum).
  double sim_pick = 0;
};

// The sim's view of `rec` for the recording's own target.
SimFidelity sim_fidelity(const SliceRecording& rec);

// Spearman's rank correlation of two equally long series (average ranks for ties); 0 for fewer
// than two values or a constant series.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

} // namespace chameleon::tune
