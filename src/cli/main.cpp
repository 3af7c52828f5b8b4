// The skein command: `skein serve` runs a node; the other verbs talk to one.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "cli/client_commands.hpp"
#include "cli/mesh_commands.hpp"
#include "cli/node_config.hpp"
#include "cli/serve_command.hpp"
#include "cli/stream_commands.hpp"

#ifndef SKEIN_VERSION
#define SKEIN_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace skein::cli;
  CLI::App app{"Skein: an event mesh of brokers that speak Kafka, MQTT and HTTP"};
  app.require_subcommand(1);

  // serve: one flag per setting, from the same table as the TOML keys and env vars.
  auto* serve = app.add_subcommand("serve", "Run a node (settings: docs/configuration.md)");
  std::optional<std::string> config_file;
  serve->add_option("--config", config_file, "TOML configuration file")->envname("SKEIN_CONFIG");
  std::map<std::string, std::string> flag_values;
  std::map<std::string, CLI::Option*> flag_options;
  for (const auto& setting : settings()) {
    const std::string flag(setting.flag);
    std::string help = std::string(setting.help) + " [" + std::string(setting.key) + ", " +
                       std::string(setting.env) + "; default " + std::string(setting.default_text) +
                       "]";
    flag_options[flag] = serve->add_option(flag, flag_values[flag], help);
    // --link may be given once per peer: the values join into one list.
    if (flag == "--link")
      flag_options[flag]->multi_option_policy(CLI::MultiOptionPolicy::Join)->delimiter(',');
  }

  MeshOptions mesh_options;
  auto* mesh = app.add_subcommand("mesh", "The node's mesh (GET /v1/mesh)");
  mesh->require_subcommand(1);
  auto* mesh_status = mesh->add_subcommand("status", "Links, their traffic and the registry");
  mesh_status->add_option("--url", mesh_options.url, "The node's HTTP address")
      ->capture_default_str();
  mesh_status->add_flag("--json", mesh_options.json, "Print the JSON document");

  PubOptions pub_options;
  auto* pub = app.add_subcommand("pub", "Publish one event");
  pub->add_option("--url", pub_options.url, "The node's HTTP address")->capture_default_str();
  pub->add_option("topic", pub_options.topic, "Topic, e.g. orders/created/us")->required();
  pub->add_option("message", pub_options.message, "The payload; - or nothing reads stdin");
  pub->add_option("-k,--key", pub_options.key, "Event key");
  // One value per -H: CLI11 lets a vector option swallow every following
  // argument, so `-H x=y TOPIC MESSAGE` would take the topic as a header.
  pub->add_option("-H,--header", pub_options.headers, "User header NAME=VALUE (repeatable)")
      ->allow_extra_args(false);
  pub->add_option("--content-type", pub_options.content_type, "Payload content type");

  SubOptions sub_options;
  auto* sub = app.add_subcommand("sub", "Print events matching the filters as they arrive");
  sub->add_option("--url", sub_options.url, "The node's HTTP address")->capture_default_str();
  sub->add_option("filters", sub_options.filters, "Filters, e.g. 'orders/*/us/>'")->required();
  sub->add_flag("--json", sub_options.json, "Print each event as its JSON object");
  sub->add_option("-n,--count", sub_options.count, "Exit after this many events");

  StreamOptions stream_options;
  auto* stream = app.add_subcommand("stream", "Create, change, list, describe and delete streams");
  stream->require_subcommand(1);
  auto add_url = [&](CLI::App* verb) {
    verb->add_option("--url", stream_options.url, "The node's HTTP address")->capture_default_str();
  };
  auto add_name = [&](CLI::App* verb) {
    verb->add_option("name", stream_options.name, "Stream name")->required();
  };
  auto add_settings = [&](CLI::App* verb) {
    verb->add_option("-p,--partitions", stream_options.partitions, "Partition count");
    verb->add_option("-a,--attract", stream_options.attract,
                     "A filter whose events the stream takes (repeatable)")
        ->allow_extra_args(false);
    verb->add_option("-t,--template", stream_options.topic_template,
                     "Topic of produced records: {key}, {partition}, {header:NAME}");
    verb->add_option("--retention-ms", stream_options.retention_ms, "Keep records this long");
    verb->add_option("--retention-bytes", stream_options.retention_bytes,
                     "Keep at most this many bytes per partition");
    verb->add_option("--cleanup-policy", stream_options.cleanup_policy,
                     "delete, compact or compact,delete");
    verb->add_option("--fsync", stream_options.fsync, "always, interval or never");
  };
  auto* stream_create = stream->add_subcommand("create", "Create a stream");
  add_name(stream_create);
  add_settings(stream_create);
  add_url(stream_create);
  auto* stream_update = stream->add_subcommand("update", "Change a stream's settings");
  add_name(stream_update);
  add_settings(stream_update);
  stream_update->add_flag("--no-attract", stream_options.no_attract, "Attract nothing any more");
  add_url(stream_update);
  auto* stream_list = stream->add_subcommand("list", "List the streams");
  stream_list->add_flag("--json", stream_options.json, "Print the node's JSON answer");
  add_url(stream_list);
  auto* stream_describe = stream->add_subcommand("describe", "A stream's settings and offsets");
  add_name(stream_describe);
  add_url(stream_describe);
  auto* stream_delete = stream->add_subcommand("delete", "Delete a stream and its records");
  add_name(stream_delete);
  add_url(stream_delete);

  auto* version = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (*version) {
    std::printf("skein %s\n", SKEIN_VERSION);
    return 0;
  }
  if (*pub) return run_pub(pub_options);
  if (*sub) return run_sub(sub_options);
  if (*stream_create) return run_stream_create(stream_options);
  if (*stream_update) return run_stream_update(stream_options);
  if (*stream_list) return run_stream_list(stream_options);
  if (*stream_describe) return run_stream_describe(stream_options);
  if (*stream_delete) return run_stream_delete(stream_options);
  if (*mesh_status) return run_mesh_status(mesh_options);
  std::map<std::string, std::string> given;
  for (const auto& [flag, option] : flag_options)
    if (option->count() > 0) given[flag] = flag_values[flag];
  return run_serve(config_file, given);
}
