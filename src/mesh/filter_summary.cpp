// Coarsening a node's filters for its registry record (filter_summary.hpp).
#include "mesh/filter_summary.hpp"

#include <algorithm>
#include <set>

namespace skein::mesh {

std::vector<std::string> summarize_filters(std::vector<std::string> filters, std::size_t max) {
  if (filters.size() <= max) return filters;
  std::set<std::string> groups;
  for (const auto& f : filters) {
    const auto slash = f.find('/');
    if (slash == std::string::npos) {
      groups.insert(f);  // one level: itself ("a", "ab*", "*" or ">")
    } else {
      groups.insert(f.substr(0, slash) + "/>");
    }
  }
  if (groups.size() <= max) return {groups.begin(), groups.end()};
  // Still too many: everything. A wildcard first level never matches a '$'
  // topic, so groups of '$' levels are kept beside '>'.
  std::vector<std::string> out{">"};
  for (const auto& g : groups)
    if (!g.empty() && g.front() == '$') out.push_back(g);
  return out;
}

}  // namespace skein::mesh
