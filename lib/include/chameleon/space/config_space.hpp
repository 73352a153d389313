#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace chameleon::space {

enum class KnobKind { Split, Other };

// One tunable knob with its ordered choices. A split knob divides `extent` into `parts` factors
// (AutoTVM's SplitSpace, policy "factors"); an "other" knob picks one value from a list.
struct Knob {
  std::string name;
  KnobKind kind = KnobKind::Other;
  int extent = 0;
  int parts = 0;
  std::vector<std::vector<int>> choices; // split: the part sizes; other: {value}

  int64_t size() const { return int64_t(choices.size()); }
};

// All ways to write `extent` as an ordered product of `parts` factors, in AutoTVM's order: a DFS
// over the inner factors where size[1] varies fastest and size[0] is the remainder.
std::vector<std::vector<int>> enumerate_splits(int extent, int parts);
Knob split_knob(const std::string& name, int extent, int parts);
Knob other_knob(const std::string& name, const std::vector<int>& values);

// A point of the space: the choice position of every knob and its mixed-radix index.
struct Config {
  int64_t index = 0;
  std::vector<int> choice;

  bool operator==(const Config& o) const { return index == o.index; }
};

// The product of the knobs. The index is mixed radix with the first knob as the least
// significant digit, exactly as AutoTVM's ConfigSpace, so indices match AutoTVM's logs.
class ConfigSpace {
public:
  ConfigSpace() = default;
  explicit ConfigSpace(std::vector<Knob> knobs);

  const std::vector<Knob>& knobs() const { return knobs_; }
  int64_t size() const { return size_; }
  int knob_index(const std::string& name) const; // -1 when absent

  Config get(int64_t index) const;                    // throws chameleon::Error out of range
  Config from_choices(std::vector<int> choice) const; // throws on a bad position
  const std::vector<int>& value(const Config& c, size_t knob) const {
    return knobs_[knob].choices[size_t(c.choice[knob])];
  }

  Config random(std::mt19937_64& rng) const;
  // AutoTVM's random_walk: one random knob (with more than one choice) moves to a different
  // random choice.
  Config random_walk(const Config& c, std::mt19937_64& rng) const;
  // Moves knob k by deltas[k] in {-1, 0, +1} along its ordered choices, clamped at both ends.
  Config step(const Config& c, const std::vector<int>& deltas) const;

  // AutoTVM's entity: [["tile_f", "sp", [..]], ..., ["unroll_explicit", "ot", 1]].
  nlohmann::json entity_json(const Config& c) const;
  // Reads an entity by knob name (AutoTVM versions order tile_ry/tile_rx differently); a split
  // whose first size is -1 means "the remainder". Throws chameleon::Error naming the bad knob.
  Config from_entity(const nlohmann::json& entity) const;
  // "tile_f=[1,4,8,2] tile_y=[112,1,1,1] ... unroll_explicit=1"
  std::string str(const Config& c) const;
  // The position of `value` among knob k's choices: an int for an "other" knob, a list of sizes
  // for a split (a first size of -1 is the remainder). Throws chameleon::Error naming the knob.
  int choice_of(size_t k, const nlohmann::json& value) const;

  // A sub-space (a slice): the same knobs in the same order, each keeping the choices named in
  // `knob_values` ({"tile_k": [8, 16], "tile_f": [[-1, 4, 8, 2], ...]}; a knob not named keeps
  // all of its own), in the space's order. Its configs have indices of their own; full_index
  // gives a config's index in the space it was cut from. Throws chameleon::Error on an unknown
  // knob, a value that is not a choice, or an empty list.
  ConfigSpace restrict(const nlohmann::json& knob_values) const;
  // The index of `c` in the space this one was cut from (restrict); its own index otherwise.
  int64_t full_index(const Config& c) const;
  bool restricted() const { return !positions_.empty(); }

private:
  std::vector<Knob> knobs_;
  int64_t size_ = 0;
  // For a restricted space: per knob, the position of each kept choice in the full knob, and the
  // full knob's number of choices.
  std::vector<std::vector<int>> positions_;
  std::vector<int64_t> full_sizes_;
};

} // namespace chameleon::space
