// Conversion between Python objects and JSON text for snapshot data.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

namespace asap_native::bindings {

/// Writes `data` (a dict) as compact JSON text, straight from the Python objects. Values JSON
/// cannot hold get the package's defined encodings (datetime -> ISO string, UUID/Decimal -> str,
/// Enum -> value, set/frozenset/tuple -> list, pydantic model -> model_dump(mode="json")).
/// Anything else raises TypeError or ValueError naming the path, e.g. "data['a'][3]".
std::string python_to_json(pybind11::handle data, const char* root_name = "data");

/// Parses JSON text into Python objects (dict, list, str, int, float, bool, None), with the
/// results json.loads would give. Raises ValueError when the text is not JSON.
pybind11::object json_to_python(std::string_view text);

/// Registers the conversion helpers on the module (used by tests and benchmarks).
void register_json(pybind11::module_& module);

}  // namespace asap_native::bindings
