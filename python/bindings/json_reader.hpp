// JSON text -> Python objects, for snapshot data read back from a store.
#pragma once

#include <pybind11/pybind11.h>

#include <string_view>

namespace asap_native::bindings {

/// Parses JSON text into Python objects (dict, list, str, int, float, bool, None), with the
/// results json.loads would give. Raises json.JSONDecodeError (a ValueError) when the text is
/// not JSON.
pybind11::object json_to_python(std::string_view text);

/// Registers _core._loads (for tests and benchmarks).
void register_json_reader(pybind11::module_& module);

}  // namespace asap_native::bindings
