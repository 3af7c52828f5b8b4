// `skein mesh status`: GET /v1/mesh, printed as tables or as JSON.
#include "cli/mesh_commands.hpp"

#include <boost/beast/http/verb.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/http_client.hpp"

namespace skein::cli {

namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {
std::string text(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}
}  // namespace

int run_mesh_status(const MeshOptions& options) {
  auto target = parse_url(options.url);
  if (!target) return 2;
  auto response =
      exchange(*target, make_request(*target, bhttp::verb::get, "/v1/mesh"), "mesh status");
  if (!response) return 1;
  if (response->result_int() != 200) {
    std::fprintf(stderr, "skein mesh status: %u %s\n", response->result_int(),
                 error_text(response->body()).c_str());
    return 1;
  }
  const json doc = json::parse(response->body(), nullptr, false);
  if (options.json || doc.is_discarded()) {
    std::cout << (doc.is_discarded() ? response->body() : doc.dump(2)) << '\n';
    return 0;
  }
  std::printf("node %s in mesh %s, listening on %s\n", text(doc["node"]).c_str(),
              text(doc["mesh"]).c_str(), text(doc["listen"]).c_str());
  std::printf("\n%-20s %-5s %-9s %-22s %9s %12s %12s %10s %10s %8s\n", "LINK", "STATE", "DIRECTION",
              "ADDRESS", "RTT ms", "BYTES OUT", "BYTES IN", "EVENTS OUT", "EVENTS IN", "OUTBOX");
  for (const auto& l : doc["links"]) {
    const auto events_out = l.value("events_out", 0ull) + l.value("persistent_out", 0ull);
    const auto events_in = l.value("events_in", 0ull) + l.value("persistent_in", 0ull);
    std::printf("%-20s %-5s %-9s %-22s %9s %12s %12s %10llu %10llu %8s\n", text(l["peer"]).c_str(),
                text(l["state"]).c_str(), text(l.value("direction", json(nullptr))).c_str(),
                text(l.value("address", json(nullptr))).c_str(),
                text(l.value("rtt_ms", json(nullptr))).c_str(),
                text(l.value("bytes_out", json(nullptr))).c_str(),
                text(l.value("bytes_in", json(nullptr))).c_str(),
                static_cast<unsigned long long>(events_out),
                static_cast<unsigned long long>(events_in), text(l["outbox"]["events"]).c_str());
  }
  for (const auto& d : doc["dialing"])
    if (text(d["state"]) != "linked")
      std::printf("dialling %s: %s %s\n", text(d["address"]).c_str(), text(d["state"]).c_str(),
                  text(d["last_error"]).c_str());
  std::printf("\n%-20s %8s %9s %8s  %s\n", "NODE", "DISTANCE", "VERSION", "FILTERS", "LINKS");
  for (const auto& n : doc["nodes"]) {
    std::string links;
    for (const auto& l : n["links"]) links += (links.empty() ? "" : ",") + text(l);
    std::printf("%-20s %8s %9s %8zu  %s\n", text(n["name"]).c_str(),
                n["reachable"].get<bool>() ? text(n["distance"]).c_str() : "-",
                text(n["version"]).c_str(), n["filters"].size(), links.c_str());
  }
  return 0;
}

}  // namespace skein::cli
