#pragma once

#include <string>

namespace chameleon::tune {

// Why a template's turn on a task (or a collection of a slice) ended. The log keeps the text of
// to_text(); from_text reads it back (status, report).
enum class StopReason {
  None,           // still running, or not run
  TrialBudget,    // "trial budget reached": the task's (or the template's share of) trials
  TimeLimit,      // "time limit reached": the task's share of --time-limit
  Goal,           // "goal reached": a kernel at or below --goal-us
  EarlyStopping,  // "early stopping (N trials without improvement)"
  SpaceExhausted, // "design space exhausted": nothing left to measure
  Interrupted,    // "interrupted": Ctrl-C (util/interrupt.hpp); the same command resumes
  Complete,       // "complete": collect measured every config of its slice
  CollectLimit,   // "--limit reached": collect stopped at its --limit
  Unknown,        // a text this version does not know (a log of another version)
};

struct Stop {
  StopReason reason = StopReason::None;
  int early_stopping = 0; // with EarlyStopping: the trials without improvement it allowed

  bool stopped() const { return reason != StopReason::None; }
  bool operator==(StopReason r) const { return reason == r; }
  bool operator!=(StopReason r) const { return reason != r; }
};

// The log's text: "" for None, else as listed above ("unknown" for Unknown).
std::string to_text(const Stop& s);
// Reads to_text's text back; any other text is Unknown.
Stop stop_from_text(const std::string& text);

} // namespace chameleon::tune
