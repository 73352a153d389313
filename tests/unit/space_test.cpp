#include <catch2/catch.hpp>

#include "chameleon/codegen/template.hpp"
#include "chameleon/space/config_space.hpp"
#include "chameleon/util/error.hpp"

#include <nlohmann/json.hpp>

using namespace chameleon;

namespace {
task::Conv2dWorkload conv(int c, int hw, int k, int rs, int stride, int pad) {
  task::Conv2dWorkload wl;
  wl.c = c;
  wl.h = wl.w = hw;
  wl.k = k;
  wl.r = wl.s = rs;
  wl.stride_h = wl.stride_w = stride;
  wl.pad_top = wl.pad_left = wl.pad_bottom = wl.pad_right = pad;
  return wl;
}
const codegen::Template& direct() {
  return codegen::find_template("conv2d_direct");
}
} // namespace

TEST_CASE("split enumeration follows AutoTVM's order", "[space]") {
  auto splits = space::enumerate_splits(64, 4);
  REQUIRE(splits.size() == 84); // C(6+3, 3)
  CHECK(splits[0] == std::vector<int>{64, 1, 1, 1});
  CHECK(splits[1] == std::vector<int>{32, 2, 1, 1});
  CHECK(splits[2] == std::vector<int>{16, 4, 1, 1});
  CHECK(space::enumerate_splits(3, 2) == std::vector<std::vector<int>>{{3, 1}, {1, 3}});
  CHECK(space::enumerate_splits(7, 4).size() == 4);
  CHECK(space::enumerate_splits(1, 4) == std::vector<std::vector<int>>{{1, 1, 1, 1}});
  // A perfect square's root once; the largest int (a prime) without overflowing the search.
  CHECK(space::enumerate_splits(36, 2).size() == 9);
  CHECK(space::enumerate_splits(2147483647, 2) ==
        std::vector<std::vector<int>>{{2147483647, 1}, {1, 2147483647}});
  CHECK(space::enumerate_splits(1 << 30, 2).size() == 31);
}

TEST_CASE("ResNet-18 conv1 space matches AutoTVM's test vector", "[space]") {
  auto sp = direct().make_space(conv(3, 224, 64, 7, 2, 3));
  REQUIRE(sp.size() == 79027200);
  auto cfg = sp.get(43253325);
  CHECK(sp.value(cfg, 0) == std::vector<int>{1, 4, 8, 2});
  CHECK(sp.value(cfg, 1) == std::vector<int>{112, 1, 1, 1});
  CHECK(sp.value(cfg, 2) == std::vector<int>{1, 7, 16, 1});
  CHECK(sp.value(cfg, 3) == std::vector<int>{3, 1});
  CHECK(sp.value(cfg, 4) == std::vector<int>{1, 7});
  CHECK(sp.value(cfg, 5) == std::vector<int>{7, 1});
  CHECK(sp.value(cfg, 6) == std::vector<int>{0});
  CHECK(sp.value(cfg, 7) == std::vector<int>{1});
}

TEST_CASE("VGG-16 64->64 at 224 has AutoTVM's space size", "[space]") {
  CHECK(direct().make_space(conv(64, 224, 64, 3, 1, 1)).size() == 708083712);
}

TEST_CASE("the index codec round-trips", "[space]") {
  auto sp = direct().make_space(conv(128, 28, 256, 3, 2, 1));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    auto c = sp.random(rng);
    CHECK(sp.from_choices(c.choice).index == c.index);
    CHECK(sp.get(c.index).choice == c.choice);
    CHECK(sp.from_entity(sp.entity_json(c)).index == c.index);
  }
  CHECK_THROWS_AS(sp.get(sp.size()), Error);
  CHECK_THROWS_AS(sp.get(-1), Error);
}

TEST_CASE("entities with -1 and foreign knob order decode by name", "[space]") {
  auto sp = direct().make_space(conv(3, 224, 64, 7, 2, 3));
  auto entity = nlohmann::json::parse(R"([["tile_f","sp",[-1,4,8,2]],["tile_y","sp",[-1,1,1,1]],
    ["tile_x","sp",[-1,7,16,1]],["tile_rc","sp",[-1,1]],["tile_rx","sp",[-1,1]],
    ["tile_ry","sp",[-1,7]],["auto_unroll_max_step","ot",0],["unroll_explicit","ot",1]])");
  CHECK(sp.from_entity(entity).index == 43253325);
  entity[0][2] = {-1, 3, 8, 2};
  CHECK_THROWS_WITH(sp.from_entity(entity), Catch::Contains("tile_f"));
}

TEST_CASE("neighbourhood moves stay in the space", "[space]") {
  auto sp = direct().make_space(conv(64, 56, 64, 3, 1, 1));
  std::mt19937_64 rng(3);
  auto c = sp.random(rng);
  for (int i = 0; i < 200; ++i) {
    auto n = sp.random_walk(c, rng);
    int changed = 0;
    for (size_t k = 0; k < c.choice.size(); ++k) changed += n.choice[k] != c.choice[k];
    CHECK(changed == 1);
    c = n;
  }
  auto low = sp.get(0);
  auto down = sp.step(low, std::vector<int>(8, -1));
  CHECK(down.index == 0); // clamped
  auto up = sp.step(low, std::vector<int>(8, +1));
  for (size_t k = 0; k < up.choice.size(); ++k) CHECK(up.choice[k] == 1);
  auto top = sp.get(sp.size() - 1);
  CHECK(sp.step(top, std::vector<int>(8, +1)).index == sp.size() - 1);
}

TEST_CASE("a slice keeps the named values of each knob, and its configs know their full index",
          "[space][slice]") {
  auto full = direct().make_space(conv(256, 14, 256, 3, 1, 1));
  auto knobs = nlohmann::json::parse(R"({"tile_f": [[-1, 4, 8, 2], [-1, 1, 16, 8]],
    "tile_rx": [[1, 3], [3, 1]], "unroll_explicit": [1]})");
  auto sp = full.restrict(knobs);
  REQUIRE(sp.restricted());
  CHECK_FALSE(full.restricted());
  CHECK(sp.knobs().size() == full.knobs().size());
  CHECK(sp.knobs()[0].size() == 2);
  CHECK(sp.knobs()[5].size() == 2);
  CHECK(sp.knobs()[7].size() == 1);
  CHECK(sp.knobs()[1].size() == full.knobs()[1].size()); // not named: all of it
  CHECK(sp.size() == full.size() / full.knobs()[0].size() * 2 / full.knobs()[5].size() * 2 / 2);
  // Kept values stay in the full space's order, whatever order the slice names them in.
  CHECK(full.knobs()[5].choices == std::vector<std::vector<int>>{{3, 1}, {1, 3}});
  CHECK(sp.knobs()[5].choices == full.knobs()[5].choices);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 500; ++i) {
    auto c = sp.random(rng);
    auto in_full = full.get(sp.full_index(c));
    CHECK(full.entity_json(in_full) == sp.entity_json(c));
    CHECK(sp.str(c) == full.str(in_full));
    CHECK(sp.from_entity(sp.entity_json(c)).index == c.index);
    CHECK(full.full_index(in_full) == in_full.index);
  }
  // A config outside the slice is not one of its configs.
  auto outside = full.get(0);
  CHECK_THROWS_WITH(sp.from_entity(full.entity_json(outside)),
                    Catch::Contains("is not a valid choice here"));
  // A slice of a slice still indexes into the first space.
  auto narrower = sp.restrict(nlohmann::json::parse(R"({"tile_f": [[-1, 1, 16, 8]]})"));
  auto c = narrower.get(narrower.size() - 1);
  CHECK(full.entity_json(full.get(narrower.full_index(c))) == narrower.entity_json(c));
}

TEST_CASE("a slice that names what the space does not have is refused, naming it",
          "[space][slice]") {
  auto full = direct().make_space(conv(256, 14, 256, 3, 1, 1));
  using nlohmann::json;
  CHECK_THROWS_WITH(full.restrict(json::parse(R"({"tile_z": [1]})")),
                    Catch::Contains("unknown knob 'tile_z'") && Catch::Contains("tile_f, tile_y"));
  CHECK_THROWS_WITH(full.restrict(json::parse(R"({"tile_f": [[-1, 3, 8, 2]]})")),
                    Catch::Contains("knob 'tile_f'"));
  CHECK_THROWS_WITH(full.restrict(json::parse(R"({"unroll_explicit": [2]})")),
                    Catch::Contains("knob 'unroll_explicit': 2 is not a valid choice here"));
  CHECK_THROWS_WITH(full.restrict(json::parse(R"({"unroll_explicit": []})")),
                    Catch::Contains("non-empty list"));
  CHECK_THROWS_WITH(full.restrict(json::parse(R"({"unroll_explicit": [1, 1]})")),
                    Catch::Contains("named twice"));
  CHECK_THROWS_WITH(full.restrict(json::parse(R"([1])")), Catch::Contains("object"));
  CHECK(full.restrict(json::object()).size() == full.size());
}
