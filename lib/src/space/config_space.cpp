#include "chameleon/space/config_space.hpp"

#include "chameleon/util/error.hpp"
#include "chameleon/util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

namespace chameleon::space {

namespace {

// Ascending. Trial division up to the square root: an extent may be any positive int (a layer
// of 2^31 - 1 channels is a valid, if useless, network), and counting up to it would overflow.
std::vector<int> factors_of(int n) {
  std::vector<int> low, high;
  for (int64_t f = 1; f * f <= n; ++f) {
    if (n % f != 0) continue;
    low.push_back(int(f));
    if (f * f != n) high.push_back(int(n / f));
  }
  low.insert(low.end(), high.rbegin(), high.rend());
  return low;
}

void split_dfs(int extent, const std::vector<int>& factors, std::vector<int>& stack, size_t depth,
               std::vector<std::vector<int>>& out) {
  if (depth == stack.size()) {
    int64_t prod = 1;
    for (int f : stack) prod *= f;
    if (prod > extent || extent % prod != 0) return;
    std::vector<int> entity = {int(extent / prod)};
    entity.insert(entity.end(), stack.rbegin(), stack.rend());
    out.push_back(std::move(entity));
    return;
  }
  for (int f : factors) {
    stack[depth] = f;
    split_dfs(extent, factors, stack, depth + 1, out);
  }
}

} // namespace

std::vector<std::vector<int>> enumerate_splits(int extent, int parts) {
  if (extent < 1 || parts < 1) throw Error("a split needs a positive extent and part count");
  std::vector<std::vector<int>> out;
  std::vector<int> stack(size_t(parts - 1));
  split_dfs(extent, factors_of(extent), stack, 0, out);
  return out;
}

Knob split_knob(const std::string& name, int extent, int parts) {
  Knob k;
  k.name = name;
  k.kind = KnobKind::Split;
  k.extent = extent;
  k.parts = parts;
  k.choices = enumerate_splits(extent, parts);
  return k;
}

Knob other_knob(const std::string& name, const std::vector<int>& values) {
  Knob k;
  k.name = name;
  k.kind = KnobKind::Other;
  for (int v : values) k.choices.push_back({v});
  return k;
}

ConfigSpace::ConfigSpace(std::vector<Knob> knobs) : knobs_(std::move(knobs)), size_(1) {
  for (const Knob& k : knobs_) {
    if (k.choices.empty()) throw Error("knob '" + k.name + "' has no choices");
    if (size_ > std::numeric_limits<int64_t>::max() / k.size()) {
      throw Error("design space too large to index (over 2^63 configs)");
    }
    size_ *= k.size();
  }
}

int ConfigSpace::knob_index(const std::string& name) const {
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (knobs_[i].name == name) return int(i);
  }
  return -1;
}

Config ConfigSpace::get(int64_t index) const {
  if (index < 0 || index >= size_) {
    throw Error("config index " + std::to_string(index) + " is outside the space (0.." +
                std::to_string(size_ - 1) + ")");
  }
  Config c;
  c.index = index;
  c.choice.resize(knobs_.size());
  int64_t t = index;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    c.choice[i] = int(t % knobs_[i].size());
    t /= knobs_[i].size();
  }
  return c;
}

Config ConfigSpace::from_choices(std::vector<int> choice) const {
  if (choice.size() != knobs_.size()) throw Error("config has the wrong number of knobs");
  int64_t index = 0;
  for (size_t i = knobs_.size(); i-- > 0;) {
    if (choice[i] < 0 || choice[i] >= knobs_[i].size()) {
      throw Error("knob '" + knobs_[i].name + "' has no choice " + std::to_string(choice[i]));
    }
    index = index * knobs_[i].size() + choice[i];
  }
  return Config{index, std::move(choice)};
}

Config ConfigSpace::random(std::mt19937_64& rng) const {
  std::uniform_int_distribution<int64_t> dist(0, size_ - 1);
  return get(dist(rng));
}

Config ConfigSpace::random_walk(const Config& c, std::mt19937_64& rng) const {
  std::vector<size_t> movable;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (knobs_[i].size() > 1) movable.push_back(i);
  }
  if (movable.empty()) return c;
  size_t k = movable[std::uniform_int_distribution<size_t>(0, movable.size() - 1)(rng)];
  std::vector<int> choice = c.choice;
  // A different choice, uniformly: draw from size-1 values and skip the current one.
  int pick = std::uniform_int_distribution<int>(0, int(knobs_[k].size()) - 2)(rng);
  choice[k] = pick >= c.choice[k] ? pick + 1 : pick;
  return from_choices(std::move(choice));
}

Config ConfigSpace::step(const Config& c, const std::vector<int>& deltas) const {
  if (deltas.size() != knobs_.size()) throw Error("step needs one delta per knob");
  std::vector<int> choice = c.choice;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    int next = choice[i] + deltas[i];
    choice[i] = std::min(std::max(next, 0), int(knobs_[i].size()) - 1);
  }
  return from_choices(std::move(choice));
}

nlohmann::json ConfigSpace::entity_json(const Config& c) const {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < knobs_.size(); ++i) {
    const auto& v = value(c, i);
    if (knobs_[i].kind == KnobKind::Split) {
      out.push_back({knobs_[i].name, "sp", v});
    } else {
      out.push_back({knobs_[i].name, "ot", v[0]});
    }
  }
  return out;
}

int ConfigSpace::choice_of(size_t k, const nlohmann::json& value) const {
  const Knob& knob = knobs_.at(k);
  std::vector<int> want;
  try {
    if (knob.kind == KnobKind::Split) {
      want = value.get<std::vector<int>>();
      if (want.size() != size_t(knob.parts)) throw Error("wrong number of parts");
      if (want[0] == -1) {
        int64_t inner = 1;
        for (size_t p = 1; p < want.size(); ++p) inner *= want[p];
        if (inner <= 0 || knob.extent % inner != 0) throw Error("inner sizes do not divide");
        want[0] = int(knob.extent / inner);
      }
    } else {
      want = {value.get<int>()};
    }
  } catch (const std::exception& e) {
    throw Error("knob '" + knob.name + "': bad value " + value.dump() + ": " + e.what());
  }
  for (size_t p = 0; p < knob.choices.size(); ++p) {
    if (knob.choices[p] == want) return int(p);
  }
  throw Error("knob '" + knob.name + "': " + value.dump() + " is not a valid choice here");
}

Config ConfigSpace::from_entity(const nlohmann::json& entity) const {
  if (!entity.is_array()) throw Error("a config entity is a list of [name, kind, value]");
  std::vector<int> choice(knobs_.size(), -1);
  for (const auto& item : entity) {
    if (!item.is_array() || item.size() != 3 || !item[0].is_string()) {
      throw Error("bad entity item " + item.dump() + " (expected [name, \"sp\"|\"ot\", value])");
    }
    std::string name = item[0].get<std::string>();
    int k = knob_index(name);
    if (k < 0) throw Error("unknown knob '" + name + "' in config entity");
    choice[size_t(k)] = choice_of(size_t(k), item[2]);
  }
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (choice[i] < 0) throw Error("config entity misses knob '" + knobs_[i].name + "'");
  }
  return from_choices(std::move(choice));
}

ConfigSpace ConfigSpace::restrict(const nlohmann::json& knob_values) const {
  if (!knob_values.is_object())
    throw Error("a slice's knobs are an object {\"knob\": [values...]}");
  std::vector<std::vector<int>> keep(knobs_.size());
  for (const auto& [name, values] : knob_values.items()) {
    const int k = knob_index(name);
    if (k < 0) {
      std::vector<std::string> names;
      for (const Knob& knob : knobs_) names.push_back(knob.name);
      throw Error("unknown knob '" + name + "' (this space's knobs: " + util::join(names, ", ") +
                  ")");
    }
    if (!values.is_array() || values.empty())
      throw Error("knob '" + name + "': expected a non-empty list of values");
    std::vector<int> positions;
    for (const auto& v : values) positions.push_back(choice_of(size_t(k), v));
    std::sort(positions.begin(), positions.end());
    if (std::adjacent_find(positions.begin(), positions.end()) != positions.end()) {
      throw Error("knob '" + name + "': a value is named twice");
    }
    keep[size_t(k)] = std::move(positions);
  }
  std::vector<Knob> knobs = knobs_;
  std::vector<std::vector<int>> positions(knobs_.size());
  std::vector<int64_t> full_sizes(knobs_.size());
  for (size_t k = 0; k < knobs_.size(); ++k) {
    // A space cut from a cut space still indexes into the first one.
    const bool cut = restricted();
    full_sizes[k] = cut ? full_sizes_[k] : knobs_[k].size();
    if (keep[k].empty()) {
      for (int p = 0; p < int(knobs_[k].size()); ++p) keep[k].push_back(p);
    }
    knobs[k].choices.clear();
    for (int p : keep[k]) {
      knobs[k].choices.push_back(knobs_[k].choices[size_t(p)]);
      positions[k].push_back(cut ? positions_[k][size_t(p)] : p);
    }
  }
  ConfigSpace out(std::move(knobs));
  out.positions_ = std::move(positions);
  out.full_sizes_ = std::move(full_sizes);
  return out;
}

int64_t ConfigSpace::full_index(const Config& c) const {
  if (!restricted()) return c.index;
  int64_t index = 0;
  for (size_t i = knobs_.size(); i-- > 0;)
    index = index * full_sizes_[i] + positions_[i][size_t(c.choice[i])];
  return index;
}

std::string ConfigSpace::str(const Config& c) const {
  std::string out;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    if (i > 0) out += " ";
    const auto& v = value(c, i);
    out += knobs_[i].name + "=";
    out += knobs_[i].kind == KnobKind::Split ? "[" + util::join_numbers(v, ",") + "]"
                                             : std::to_string(v[0]);
  }
  return out;
}

} // namespace chameleon::space
