#include "chameleon/emit/svg.hpp"

#include "chameleon/util/strings.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace chameleon::emit {

namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// 1, 2 or 5 times a power of ten, so that about `count` ticks cover the span.
double nice_step(double span, int count) {
  if (span <= 0) return 1;
  double raw = span / count;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double r = raw / mag;
  return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

std::string tick_label(double v, double step) {
  int decimals = step >= 1 ? 0 : int(std::ceil(-std::log10(step)));
  return util::fixed(v, std::min(decimals, 6));
}

} // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string LineChart::svg() const {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool any = false;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if (!any) x0 = x1 = x, y1 = y;
      any = true;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y1 = std::max(y1, y);
    }
  }
  y0 = 0; // throughput axes start at zero
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
  x0 = std::floor(x0 / xs) * xs, x1 = std::ceil(x1 / xs) * xs, y1 = std::ceil(y1 / ys) * ys;

  const int left = 80, right = 20, top = 40, bottom = 60;
  const int legend_h = 18 * int(series.size());
  const int pw = width - left - right, ph = height - top - bottom;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * pw; };
  auto py = [&](double y) { return top + ph - (y - y0) / (y1 - y0) * ph; };

  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\""
    << height + legend_h << "\" viewBox=\"0 0 " << width << " " << height + legend_h
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << width / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">"
    << xml_escape(title) << "</text>\n";
  for (double x = x0; x <= x1 + xs / 2; x += xs) {
    o << "<line x1=\"" << px(x) << "\" y1=\"" << top << "\" x2=\"" << px(x) << "\" y2=\""
      << top + ph << "\" stroke=\"#eee\"/>\n<text x=\"" << px(x) << "\" y=\"" << top + ph + 16
      << "\" text-anchor=\"middle\">" << tick_label(x, xs) << "</text>\n";
  }
  for (double y = y0; y <= y1 + ys / 2; y += ys) {
    o << "<line x1=\"" << left << "\" y1=\"" << py(y) << "\" x2=\"" << left + pw << "\" y2=\""
      << py(y) << "\" stroke=\"#eee\"/>\n<text x=\"" << left - 6 << "\" y=\"" << py(y) + 4
      << "\" text-anchor=\"end\">" << tick_label(y, ys) << "</text>\n";
  }
  o << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#333\"/>\n"
    << "<text x=\"" << left + pw / 2 << "\" y=\"" << top + ph + 40 << "\" text-anchor=\"middle\">"
    << xml_escape(x_label) << "</text>\n"
    << "<text x=\"18\" y=\"" << top + ph / 2
    << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << top + ph / 2 << ")\">"
    << xml_escape(y_label) << "</text>\n";
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
    o << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (const auto& [x, y] : series[i].points) {
      if (std::isfinite(x) && std::isfinite(y))
        o << util::fixed(px(x), 1) << "," << util::fixed(py(y), 1) << " ";
    }
    o << "\"/>\n";
    const int ly = height + 18 * int(i);
    o << "<line x1=\"" << left << "\" y1=\"" << ly - 4 << "\" x2=\"" << left + 24 << "\" y2=\""
      << ly - 4 << "\" stroke=\"" << color << "\" stroke-width=\"2\"/>\n<text x=\"" << left + 30
      << "\" y=\"" << ly << "\">" << xml_escape(series[i].name) << "</text>\n";
  }
  o << "</svg>\n";
  return o.str();
}

} // namespace chameleon::emit
