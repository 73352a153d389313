#include "chameleon/tune/provenance.hpp"

#include "chameleon/cuda/nvrtc.hpp"
#include "chameleon/util/build_info.hpp"

#include <chrono>
#include <ctime>
#include <thread>
#include <unistd.h>

namespace chameleon::tune {

namespace {
constexpr const char* kRunTag = "chameleon-run ";

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string host_name() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}
} // namespace

std::string fingerprint_part(const std::string& fingerprint, const std::string& label) {
  size_t start = 0;
  while (start <= fingerprint.size()) {
    size_t bar = fingerprint.find(" | ", start);
    const std::string part =
        fingerprint.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
    if (part.rfind(label, 0) == 0) return part.substr(label.size());
    if (bar == std::string::npos) break;
    start = bar + 3;
  }
  return "";
}

nlohmann::json run_provenance(const measure::Runner& runner, const measure::Builder& builder,
                              const target::Target& target) {
  const std::string fingerprint = runner.fingerprint();
  nlohmann::json out = {{"chameleon", util::source_revision()},
                        {"date", utc_now()},
                        {"host", host_name()},
                        {"cores", std::thread::hardware_concurrency()},
                        {"compile_jobs", builder.jobs()},
                        {"device", runner.device_name()},
                        {"device_fingerprint", fingerprint},
                        {"simulated", runner.simulated()},
                        {"nvrtc", cuda::nvrtc_version(cuda::arch_sm(builder.arch()))},
                        {"arch", builder.arch()},
                        {"target", target::to_json(target)}};
  const std::string driver = fingerprint_part(fingerprint, "driver ");
  if (!driver.empty()) out["driver"] = driver;
  return out;
}

std::vector<nlohmann::json> read_run_headers(const std::vector<std::string>& comments) {
  std::vector<nlohmann::json> out;
  for (const std::string& c : comments) {
    if (c.rfind(kRunTag, 0) != 0) continue;
    try {
      out.push_back(nlohmann::json::parse(c.substr(std::char_traits<char>::length(kRunTag))));
    } catch (const std::exception&) {
      // A damaged header tells nothing.
    }
  }
  return out;
}

} // namespace chameleon::tune
