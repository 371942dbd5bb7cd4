// Python objects -> JSON text, for snapshot data written to a store.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace asap_native::bindings {

/// Writes `data` (a dict) as compact JSON text, straight from the Python objects. Values JSON
/// cannot hold get the package's defined encodings (datetime -> ISO string, UUID/Decimal -> str,
/// Enum -> value, set/frozenset/tuple -> list, pydantic model -> model_dump(mode="json")).
/// Anything else raises TypeError or ValueError naming the path, e.g. "data['a'][3]". Each
/// dict and list is written as it was when its turn came: code that runs during encoding
/// (isoformat(), model_dump()...) and changes a container cannot make the text invalid.
std::string python_to_json(pybind11::handle data, const char* root_name = "data");

/// Registers _core._dumps (for tests and benchmarks).
void register_json_writer(pybind11::module_& module);

}  // namespace asap_native::bindings
