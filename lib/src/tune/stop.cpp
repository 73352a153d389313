#include "chameleon/tune/stop.hpp"

#include <regex>
#include <utility>

namespace chameleon::tune {

namespace {

// The fixed texts, as logs have always written them.
constexpr std::pair<StopReason, const char*> kTexts[] = {
    {StopReason::TrialBudget, "trial budget reached"},
    {StopReason::TimeLimit, "time limit reached"},
    {StopReason::Goal, "goal reached"},
    {StopReason::SpaceExhausted, "design space exhausted"},
    {StopReason::Interrupted, "interrupted"},
    {StopReason::Complete, "complete"},
    {StopReason::CollectLimit, "--limit reached"},
    {StopReason::Unknown, "unknown"},
};

} // namespace

std::string to_text(const Stop& s) {
  if (s.reason == StopReason::None) return "";
  if (s.reason == StopReason::EarlyStopping) {
    return "early stopping (" + std::to_string(s.early_stopping) + " trials without improvement)";
  }
  for (const auto& [reason, text] : kTexts) {
    if (reason == s.reason) return text;
  }
  return "unknown";
}

Stop stop_from_text(const std::string& text) {
  if (text.empty()) return {};
  for (const auto& [reason, known] : kTexts) {
    if (text == known) return {reason, 0};
  }
  static const std::regex kEarly(R"(early stopping \((\d{1,9}) trials without improvement\))");
  if (std::smatch m; std::regex_match(text, m, kEarly)) {
    return {StopReason::EarlyStopping, std::stoi(m[1].str())};
  }
  return {StopReason::Unknown, 0};
}

} // namespace chameleon::tune
