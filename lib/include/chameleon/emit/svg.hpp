#pragma once

#include <string>
#include <utility>
#include <vector>

namespace chameleon::emit {

// A line chart written as standalone SVG: axes with round ticks, one polyline per series, a
// legend. Enough for tuning curves without a plotting dependency.
struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points; // (x, y), x increasing
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  int width = 720, height = 420;

  std::string svg() const;
};

// Escapes &, <, >, " for XML text and attributes.
std::string xml_escape(const std::string& s);

} // namespace chameleon::emit
