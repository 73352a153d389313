#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace chameleon::util {

// A plain-text table with aligned columns, for terminal output.
class Table {
public:
  enum class Align { Left, Right };
  explicit Table(std::vector<std::string> headers, std::vector<Align> align = {});
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& os) const;

private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

} // namespace chameleon::util
