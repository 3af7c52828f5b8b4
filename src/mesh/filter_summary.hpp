// summarize_filters: what a node advertises of its own filters in its
// registry record when it has too many to list (a node serving a million
// devices, each subscribed to its own command topic). Up to `max` filters go
// out as they are; beyond, each group of filters with the same first level
// is replaced by that level followed by `>` (and the level alone where a
// one-level filter needs it), and if even that passes `max`, by `>`. A
// summary matches every topic the filters match (a superset): other nodes
// may send this node events nobody here wants, which its router drops, but
// never miss one that somebody wants. The record stays small whatever the
// number of subscriptions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace skein::mesh {

std::vector<std::string> summarize_filters(std::vector<std::string> filters, std::size_t max);

// The summary group of one filter: "level/>" for its first level, or the
// filter itself when it has one level.
std::string summary_group(const std::string& filter);

// Advertised for distinct summary groups `groups` (sorted): themselves up
// to `max`; beyond, ">" and the '$' groups (a wildcard first level never
// matches a '$' topic).
std::vector<std::string> summarize_groups(std::vector<std::string> groups, std::size_t max);

}  // namespace skein::mesh
