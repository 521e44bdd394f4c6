#pragma once
// Escaping text for XML and HTML (libvirt's domain XML, ltb graph's page).

#include <string>

namespace ltb::util {

/// & < > " ' as entities, for both text and attribute values.
std::string xml_escape(const std::string &text);

} // namespace ltb::util
