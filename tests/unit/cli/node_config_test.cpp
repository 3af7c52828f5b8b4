// Configuration layering (defaults < TOML < environment < flags), errors that
// name the source and the setting, and the docs listing every setting.
#include "cli/node_config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace skein::cli {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string write_temp_toml(const std::string& text) {
  static int counter = 0;
  auto path =
      std::filesystem::temp_directory_path() / ("skein-config-test-" + std::to_string(::getpid()) +
                                                "-" + std::to_string(counter++) + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

NodeConfig load_ok(const std::optional<std::string>& file, const EnvLookup& env,
                   const std::map<std::string, std::string>& flags) {
  auto result = load_node_config(file, env, flags);
  if (auto* error = std::get_if<std::string>(&result)) ADD_FAILURE() << *error;
  return std::get<NodeConfig>(result);
}

std::string load_error(const std::optional<std::string>& file, const EnvLookup& env,
                       const std::map<std::string, std::string>& flags) {
  auto result = load_node_config(file, env, flags);
  if (std::holds_alternative<NodeConfig>(result)) return "(loaded without error)";
  return std::get<std::string>(result);
}

TEST(NodeConfig, DefaultsAreSafeForASingleNode) {
  NodeConfig c = load_ok(std::nullopt, env_of({}), {});
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.http_listen, "0.0.0.0:8080");
  EXPECT_EQ(c.max_event_bytes, 1024u * 1024u);
  EXPECT_EQ(c.slow_policy, core::SlowPolicy::disconnect);
  EXPECT_EQ(c.shards, 0u);
  EXPECT_FALSE(c.node_name.empty());
}

TEST(NodeConfig, TomlThenEnvironmentThenFlags) {
  auto file = write_temp_toml(
      "[node]\ndata = \"/from/toml\"\nshards = 3\n"
      "[http]\nlisten = \"127.0.0.1:1\"\nmax_event_bytes = 100\n"
      "[router]\nslow_subscriber = \"drop-oldest\"\n");
  NodeConfig c = load_ok(file, env_of({{"SKEIN_HTTP", "127.0.0.1:2"}, {"SKEIN_SHARDS", "2"}}),
                         {{"--shards", "1"}});
  EXPECT_EQ(c.data_dir, "/from/toml");      // only TOML set it
  EXPECT_EQ(c.http_listen, "127.0.0.1:2");  // env beats TOML
  EXPECT_EQ(c.shards, 1u);                  // flag beats env and TOML
  EXPECT_EQ(c.max_event_bytes, 100u);
  EXPECT_EQ(c.slow_policy, core::SlowPolicy::drop_oldest);
  std::filesystem::remove(file);
}

TEST(NodeConfig, UnknownTomlKeyIsAnErrorNamingIt) {
  auto file = write_temp_toml("[http]\nlisten = \"127.0.0.1:1\"\nlistn = \"typo\"\n");
  EXPECT_NE(load_error(file, env_of({}), {}).find("unknown setting http.listn"), std::string::npos);
  std::filesystem::remove(file);
}

TEST(NodeConfig, TomlSyntaxErrorNamesFileAndLine) {
  auto file = write_temp_toml("[http]\nlisten = \n");
  auto error = load_error(file, env_of({}), {});
  EXPECT_NE(error.find(file), std::string::npos) << error;
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  std::filesystem::remove(file);
}

TEST(NodeConfig, BadValuesNameTheirSource) {
  EXPECT_NE(load_error(std::nullopt, env_of({{"SKEIN_SHARDS", "many"}}), {})
                .find("environment SKEIN_SHARDS: expected a whole number"),
            std::string::npos);
  EXPECT_NE(load_error(std::nullopt, env_of({}), {{"--slow-subscriber", "sometimes"}})
                .find("flag --slow-subscriber: expected disconnect or drop-oldest"),
            std::string::npos);
  EXPECT_NE(load_error(std::nullopt, env_of({}), {{"--max-event-bytes", "0"}})
                .find("flag --max-event-bytes"),
            std::string::npos);
  EXPECT_NE(load_error(std::nullopt, env_of({}), {{"--log-level", "loud"}}).find("--log-level"),
            std::string::npos);
}

TEST(NodeConfig, MissingConfigFileIsAnError) {
  auto error = load_error("/nonexistent/skein.toml", env_of({}), {});
  EXPECT_NE(error.find("/nonexistent/skein.toml"), std::string::npos) << error;
}

TEST(NodeConfig, EverySettingIsDocumented) {
  std::ifstream in(std::string(SKEIN_SOURCE_DIR) + "/docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  for (const auto& s : settings()) {
    for (std::string_view part : {s.key, s.env, s.flag, s.default_text}) {
      EXPECT_NE(doc.find("`" + std::string(part) + "`"), std::string::npos)
          << "docs/configuration.md does not mention `" << part << "` of " << s.key;
    }
  }
}

}  // namespace
}  // namespace skein::cli
