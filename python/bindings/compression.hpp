// Python bindings of the compression codecs (on asap_native._core itself).
#pragma once

#include <pybind11/pybind11.h>

namespace asap_native::bindings {

/// Adds the `codec` submodule (compress, decompress, Decompressor) and maps codec errors to
/// asap_native.compression's exception classes.
void register_compression(pybind11::module_& module);

}  // namespace asap_native::bindings
