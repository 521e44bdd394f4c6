// util/c_ptr: std::unique_ptr for a C library's objects, freed by that library's own function
// (libnl, libvirt, libarchive, ...), so that no file writes a deleter struct per type.
// Nothing ltb-specific; includes nothing of lib/.
#pragma once
#include <memory>

namespace ltb::util {

/// Calls `Free` on a non-null pointer (unique_ptr never passes null to its deleter).
template <auto Free> struct CFree {
  template <class T> void operator()(T *object) const noexcept { Free(object); }
};

/// `CPtr<nl_sock, nl_socket_free> sock(nl_socket_alloc());`
template <class T, auto Free> using CPtr = std::unique_ptr<T, CFree<Free>>;

} // namespace ltb::util
