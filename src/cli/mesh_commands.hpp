// The mesh verb of the skein command: `skein mesh status` prints what a node
// knows of its mesh (GET /v1/mesh): its links with their state, round trip,
// traffic and outbox, and every node of the registry.
#pragma once

#include <string>

namespace skein::cli {

struct MeshOptions {
  std::string url = "http://127.0.0.1:8080";
  bool json = false;  // print the node's JSON document as it is
};

int run_mesh_status(const MeshOptions& options);

}  // namespace skein::cli
