// The JSON Schema of the topology format: valid JSON, valid draft 7, documented for editors, and
// compiled into the binary unchanged.

#include <doctest/doctest.h>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace ltb::embedded {
std::string_view schema_text();
} // namespace ltb::embedded

namespace {

std::string read(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const std::string k_schema_path = std::string(LTB_SOURCE_DIR) + "/schemas/ltb-topology.schema.json";

} // namespace

TEST_CASE("topology schema: valid JSON and a valid draft-7 schema") {
  const auto schema = nlohmann::json::parse(read(k_schema_path));
  CHECK(schema.at("$schema") == "http://json-schema.org/draft-07/schema#");
  CHECK(schema.contains("$id"));

  // valijson builds a validator from it ...
  valijson::Schema parsed;
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(schema);
  CHECK_NOTHROW(parser.populateSchema(adapter, parsed));

  // ... and it validates against the draft-07 meta-schema.
  const auto meta =
      nlohmann::json::parse(read(std::string(LTB_TEST_DATA) + "/topology/draft-07-schema.json"));
  valijson::Schema meta_schema;
  valijson::adapters::NlohmannJsonAdapter meta_adapter(meta);
  parser.populateSchema(meta_adapter, meta_schema);
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  const bool valid = validator.validate(meta_schema, adapter, &results);
  std::string problems;
  for (const auto &e : results) {
    for (const auto &c : e.context) {
      problems += c;
    }
    problems += ": " + e.description + "\n";
  }
  CHECK_MESSAGE(valid, problems);

  // The meta-schema check is real: a broken schema fails it.
  auto broken = schema;
  broken["properties"]["name"]["maxLength"] = "forty";
  valijson::adapters::NlohmannJsonAdapter broken_adapter(broken);
  CHECK_FALSE(validator.validate(meta_schema, broken_adapter, nullptr));
}

TEST_CASE("topology schema: every property has a title and a description") {
  const auto schema = nlohmann::json::parse(read(k_schema_path));
  std::vector<std::string> missing;
  std::function<void(const nlohmann::json &, const std::string &)> walk =
      [&](const nlohmann::json &s, const std::string &where) {
        if (!s.is_object()) {
          return;
        }
        if (auto properties = s.find("properties"); properties != s.end()) {
          for (const auto &[key, sub] : properties->items()) {
            const std::string here = where + "/properties/" + key;
            const bool is_ref = sub.contains("$ref");
            if (!is_ref && (!sub.contains("title") || !sub.contains("description"))) {
              missing.push_back(here);
            }
            walk(sub, here);
          }
        }
        for (const char *key : {"items", "additionalProperties", "propertyNames"}) {
          if (auto sub = s.find(key); sub != s.end()) {
            walk(*sub, where + "/" + key);
          }
        }
        for (const char *key : {"allOf", "anyOf", "oneOf"}) {
          if (auto list = s.find(key); list != s.end()) {
            for (const auto &sub : *list) {
              walk(sub, where + "/" + key);
            }
          }
        }
        if (auto definitions = s.find("definitions"); definitions != s.end()) {
          for (const auto &[key, sub] : definitions->items()) {
            if (!sub.contains("title") || !sub.contains("description")) {
              missing.push_back(where + "/definitions/" + key);
            }
            walk(sub, where + "/definitions/" + key);
          }
        }
      };
  walk(schema, "");
  CHECK_MESSAGE(missing.empty(), "without title or description: "
                                     << missing.size()
                                     << ", first: " << (missing.empty() ? "" : missing.front()));
}

TEST_CASE("topology schema: the compiled-in text is the schema file") {
  CHECK(ltb::embedded::schema_text() == read(k_schema_path));
}
