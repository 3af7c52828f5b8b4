// Coarsening a node's filters for its registry record (filter_summary.hpp).
#include "mesh/filter_summary.hpp"

#include <algorithm>
#include <set>

namespace skein::mesh {

std::string summary_group(const std::string& filter) {
  const auto slash = filter.find('/');
  if (slash == std::string::npos) return filter;  // one level: itself ("a", "ab*", "*" or ">")
  return filter.substr(0, slash) + "/>";
}

std::vector<std::string> summarize_filters(std::vector<std::string> filters, std::size_t max) {
  if (filters.size() <= max) return filters;
  std::set<std::string> groups;
  for (const auto& f : filters) groups.insert(summary_group(f));
  if (groups.size() <= max) return {groups.begin(), groups.end()};
  return summarize_groups(groups);
}

}  // namespace skein::mesh
