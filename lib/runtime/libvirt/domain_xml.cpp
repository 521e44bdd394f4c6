#include "runtime/libvirt/domain_xml.hpp"

#include "util/xml.hpp"

#include <cstdint>
#include <fmt/format.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <memory>
#include <string_view>

namespace ltb::runtime {

using util::xml_escape;
namespace {

// Appends one line at the given depth (two spaces a level), so that the golden files read well.
struct Writer {
  std::string out;
  void line(int depth, std::string_view text) {
    out.append(static_cast<std::size_t>(depth) * 2, ' ');
    out.append(text);
    out.push_back('\n');
  }
};

std::string attr(const std::string &value) {
  return "'" + xml_escape(value) + "'";
}

void write_nic(Writer &w, const VmNic &nic) {
  const bool tap = nic.kind == "ethernet";
  w.line(2, fmt::format("<interface type='{}'>", tap ? "ethernet" : "bridge"));
  if (!nic.mac.empty()) {
    w.line(3, fmt::format("<mac address={}/>", attr(nic.mac)));
  }
  if (tap) {
    // managed='no': the caller created the tap and keeps it; libvirt only opens it.
    w.line(3, fmt::format("<target dev={} managed='no'/>", attr(nic.source)));
  } else {
    w.line(3, fmt::format("<source bridge={}/>", attr(nic.source)));
    if (!nic.target.empty()) {
      w.line(3, fmt::format("<target dev={}/>", attr(nic.target)));
    }
    if (nic.kind == "ovs") {
      w.line(3, "<virtualport type='openvswitch'/>");
    }
  }
  w.line(3, fmt::format("<model type={}/>", attr(nic.model.empty() ? "virtio" : nic.model)));
  w.line(2, "</interface>");
}

// Decodes the five named entities and numeric references that libxml2 writes.
std::string xml_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    const auto semi = text.find(';', i);
    if (semi == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    const auto entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() > 1 && entity[0] == '#') {
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::uint32_t code = 0;
      try {
        code = static_cast<std::uint32_t>(
            std::stoul(std::string(entity.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10));
      } catch (...) {
        out.append(text.substr(i, semi - i + 1));
        i = semi;
        continue;
      }
      // UTF-8 encode the code point.
      if (code < 0x80) {
        out.push_back(static_cast<char>(code));
      } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xc0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
      } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xe0 | (code >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
      } else {
        out.push_back(static_cast<char>(0xf0 | (code >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
      }
    } else {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

} // namespace

std::string domain_xml(const VmSpec &spec) {
  const bool kvm = spec.accel == "kvm";
  Writer w;
  w.line(0, fmt::format("<domain type='{}'>", kvm ? "kvm" : "qemu"));
  w.line(1, fmt::format("<name>{}</name>", xml_escape(spec.name)));
  if (!spec.uuid.empty()) {
    w.line(1, fmt::format("<uuid>{}</uuid>", xml_escape(spec.uuid)));
  }
  if (!spec.metadata.empty()) {
    w.line(1, "<metadata>");
    w.line(2, fmt::format("<ltb:labels xmlns:ltb=\"{}\">", k_metadata_ns));
    for (const auto &[key, value] : spec.metadata) {
      w.line(3, fmt::format("<ltb:label key={}>{}</ltb:label>", attr(key), xml_escape(value)));
    }
    w.line(2, "</ltb:labels>");
    w.line(1, "</metadata>");
  }
  w.line(1, fmt::format("<memory unit='MiB'>{}</memory>", spec.memory_mib));
  w.line(1, fmt::format("<vcpu>{}</vcpu>", spec.vcpus));
  w.line(1, "<os>");
  w.line(2, "<type>hvm</type>");
  if (!spec.kernel.empty()) {
    w.line(2, fmt::format("<kernel>{}</kernel>", xml_escape(spec.kernel)));
    if (!spec.initrd.empty()) {
      w.line(2, fmt::format("<initrd>{}</initrd>", xml_escape(spec.initrd)));
    }
    if (!spec.cmdline.empty()) {
      w.line(2, fmt::format("<cmdline>{}</cmdline>", xml_escape(spec.cmdline)));
    }
  } else {
    w.line(2, "<boot dev='hd'/>");
  }
  w.line(1, "</os>");
  // ACPI lets a graceful shutdown reach the guest.
  w.line(1, "<features>");
  w.line(2, "<acpi/>");
  w.line(2, "<apic/>");
  w.line(1, "</features>");
  if (kvm) {
    // Under TCG host-passthrough means nothing useful and slows emulation; only KVM gets it.
    w.line(1, "<cpu mode='host-passthrough'/>");
  }
  w.line(1, "<clock offset='utc'/>");
  w.line(1, "<on_poweroff>destroy</on_poweroff>");
  w.line(1, "<on_reboot>restart</on_reboot>");
  w.line(1, "<on_crash>destroy</on_crash>");
  w.line(1, "<devices>");
  if (!spec.disk.empty()) {
    w.line(2, "<disk type='file' device='disk'>");
    w.line(3, fmt::format("<driver name='qemu' type={}/>",
                          attr(spec.disk_format.empty() ? "qcow2" : spec.disk_format)));
    w.line(3, fmt::format("<source file={}/>", attr(spec.disk)));
    w.line(3, "<target dev='vda' bus='virtio'/>");
    w.line(2, "</disk>");
  }
  for (const auto &nic : spec.nics) {
    write_nic(w, nic);
  }
  w.line(2, "<serial type='pty'>");
  if (!spec.serial_log.empty()) {
    // append: the log keeps what earlier boots of the node printed.
    w.line(3, fmt::format("<log file={} append='on'/>", attr(spec.serial_log)));
  }
  w.line(3, "<target port='0'/>");
  w.line(2, "</serial>");
  w.line(2, "<console type='pty'>");
  w.line(3, "<target type='serial' port='0'/>");
  w.line(2, "</console>");
  // Nothing in a lab guest uses USB; without this libvirt adds a controller QEMU must emulate.
  w.line(2, "<controller type='usb' model='none'/>");
  w.line(2, "<memballoon model='none'/>");
  w.line(1, "</devices>");
  w.line(0, "</domain>");
  return w.out;
}

std::string metadata_xml(const std::map<std::string, std::string> &metadata) {
  Writer w;
  // No namespace of its own: libvirt puts the element in k_metadata_ns under the key it is given.
  w.line(0, "<labels>");
  for (const auto &[key, value] : metadata) {
    w.line(1, fmt::format("<label key={}>{}</label>", attr(key), xml_escape(value)));
  }
  w.line(0, "</labels>");
  return w.out;
}

namespace {

struct DocFree {
  void operator()(xmlDoc *doc) const noexcept { xmlFreeDoc(doc); }
};
struct XPathContextFree {
  void operator()(xmlXPathContext *context) const noexcept { xmlXPathFreeContext(context); }
};
struct XPathObjectFree {
  void operator()(xmlXPathObject *object) const noexcept { xmlXPathFreeObject(object); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;

Doc parse_xml(const std::string &xml) {
  return Doc{xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)};
}

/// The nodes an XPath expression finds in `doc`.
std::vector<xmlNode *> find_nodes(xmlDoc *doc, const char *expression) {
  std::vector<xmlNode *> out;
  std::unique_ptr<xmlXPathContext, XPathContextFree> context{xmlXPathNewContext(doc)};
  if (!context) {
    return out;
  }
  std::unique_ptr<xmlXPathObject, XPathObjectFree> found{
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar *>(expression), context.get())};
  if (found && found->nodesetval) {
    out.assign(found->nodesetval->nodeTab, found->nodesetval->nodeTab + found->nodesetval->nodeNr);
  }
  return out;
}

std::string text_of(xmlNode *node) {
  std::unique_ptr<xmlChar, xmlFreeFunc> value{xmlNodeGetContent(node), xmlFree};
  return value ? reinterpret_cast<const char *>(value.get()) : "";
}

/// The `file` attributes of the sources of the domain's file disks, in document order.
std::vector<xmlAttr *> disk_sources(xmlDoc *doc) {
  std::vector<xmlAttr *> out;
  for (auto *node :
       find_nodes(doc, "/domain/devices/disk[@type='file' and @device='disk']/source/@file")) {
    if (node->type == XML_ATTRIBUTE_NODE) {
      out.push_back(reinterpret_cast<xmlAttr *>(node));
    }
  }
  return out;
}

std::string attribute_value(xmlAttr *attribute) {
  return text_of(reinterpret_cast<xmlNode *>(attribute));
}

} // namespace

std::string domain_name_of(const std::string &xml) {
  auto doc = parse_xml(xml);
  if (!doc) {
    return "";
  }
  auto names = find_nodes(doc.get(), "/domain/name");
  return names.empty() ? "" : text_of(names.front());
}

std::string disk_source(const std::string &xml) {
  auto doc = parse_xml(xml);
  if (!doc) {
    return "";
  }
  auto sources = disk_sources(doc.get());
  return sources.empty() ? "" : attribute_value(sources.front());
}

std::string replace_disk_source(const std::string &xml, const std::string &from,
                                const std::string &to) {
  if (from.empty()) {
    return xml;
  }
  auto doc = parse_xml(xml);
  if (!doc) {
    return xml;
  }
  bool changed = false;
  for (auto *attribute : disk_sources(doc.get())) {
    if (attribute_value(attribute) == from) {
      xmlSetProp(attribute->parent, attribute->name, reinterpret_cast<const xmlChar *>(to.c_str()));
      changed = true;
    }
  }
  if (!changed) {
    return xml;
  }
  xmlChar *text = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc.get(), &text, &size);
  std::unique_ptr<xmlChar, xmlFreeFunc> owned{text, xmlFree};
  return text ? std::string(reinterpret_cast<const char *>(text), static_cast<std::size_t>(size))
              : xml;
}

std::map<std::string, std::string> parse_metadata_labels(const std::string &xml) {
  // Reads back only the shape domain_xml() writes. libvirt re-serialises it with libxml2, which
  // drops or keeps the prefix and may switch attribute quotes, so neither is assumed.
  std::map<std::string, std::string> labels;
  const std::string_view text(xml);
  for (auto lt = text.find('<'); lt != std::string_view::npos; lt = text.find('<', lt + 1)) {
    const auto name_end = text.find_first_of(" \t\n/>", lt + 1);
    if (name_end == std::string_view::npos) {
      break;
    }
    auto name = text.substr(lt + 1, name_end - lt - 1);
    if (const auto colon = name.find(':'); colon != std::string_view::npos) {
      name.remove_prefix(colon + 1);
    }
    const auto tag_end = text.find('>', name_end);
    if (name != "label" || tag_end == std::string_view::npos) {
      continue;
    }
    const auto attrs = text.substr(name_end, tag_end - name_end);
    const auto key_at = attrs.find(" key=");
    if (key_at == std::string_view::npos || key_at + 6 > attrs.size()) {
      continue;
    }
    const char quote = attrs[key_at + 5];
    const auto key_end = attrs.find(quote, key_at + 6);
    if ((quote != '"' && quote != '\'') || key_end == std::string_view::npos) {
      continue;
    }
    auto key = xml_unescape(attrs.substr(key_at + 6, key_end - key_at - 6));
    std::string value;
    if (text[tag_end - 1] != '/') {
      const auto close = text.find('<', tag_end);
      if (close == std::string_view::npos) {
        break;
      }
      value = xml_unescape(text.substr(tag_end + 1, close - tag_end - 1));
      lt = close - 1;
    }
    labels[std::move(key)] = std::move(value);
  }
  return labels;
}

} // namespace ltb::runtime
