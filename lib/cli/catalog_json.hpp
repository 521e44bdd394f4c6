#pragma once
// The JSON of `ltb catalog --format json` and `ltb catalog show --format json` (cmd_catalog.cpp),
// apart so that the unit tests check its shape.

#include "service/catalog.hpp"

#include <nlohmann/json.hpp>

namespace ltb::cli {

/// {"kinds": [...], "images": [...], "rows": [...], "docker": {"reachable", "problem"}}.
nlohmann::json catalog_json(const service::Catalog &catalog);

/// {"kind": {...}} and/or {"image": {...}}, and "docker".
nlohmann::json catalog_entry_json(const service::CatalogEntry &entry);

} // namespace ltb::cli
