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
  return summarize_groups({groups.begin(), groups.end()}, max);
}

std::vector<std::string> summarize_groups(std::vector<std::string> groups, std::size_t max) {
  if (groups.size() <= max) return groups;
  std::vector<std::string> out{">"};
  for (auto& g : groups)
    if (!g.empty() && g.front() == '$') out.push_back(std::move(g));
  return out;
}

}  // namespace skein::mesh
