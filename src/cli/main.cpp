// The skein command: `skein serve` runs a node; the other verbs talk to one.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "cli/client_commands.hpp"
#include "cli/node_config.hpp"
#include "cli/serve_command.hpp"

#ifndef SKEIN_VERSION
#define SKEIN_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace skein::cli;
  CLI::App app{"Skein: an event mesh of brokers that speak HTTP and Kafka (and soon MQTT)"};
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
  }

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

  auto* version = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (*version) {
    std::printf("skein %s\n", SKEIN_VERSION);
    return 0;
  }
  if (*pub) return run_pub(pub_options);
  if (*sub) return run_sub(sub_options);
  std::map<std::string, std::string> given;
  for (const auto& [flag, option] : flag_options)
    if (option->count() > 0) given[flag] = flag_values[flag];
  return run_serve(config_file, given);
}
