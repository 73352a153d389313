#pragma once

#include "chameleon/measure/builder.hpp"
#include "chameleon/measure/runner.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace chameleon::tune {

// Where the measurements of a run come from, written into its "# chameleon-run" line so that
// every log (and the measurement dataset built from logs) says what made its records: the
// chameleon commit, the date (UTC), the host and its compile workers, the device with its
// fingerprint, driver and NVRTC versions, and the target.
nlohmann::json run_provenance(const measure::Runner& runner, const measure::Builder& builder,
                              const target::Target& target);

// The "# chameleon-run" comment lines of a log (LogContents::comments), each parsed; damaged ones
// are passed over.
std::vector<nlohmann::json> read_run_headers(const std::vector<std::string>& comments);

// The text after `label` in a " | "-separated device fingerprint ("driver 13.0" -> "13.0" for
// label "driver "); "" when no part starts with it.
std::string fingerprint_part(const std::string& fingerprint, const std::string& label);

} // namespace chameleon::tune
