#include "versions.hpp"

#include <string>

#include "asap_native/sqlite/version.hpp"
#include "asap_native/version.hpp"

namespace py = pybind11;

namespace asap_native::bindings {

void register_versions(py::module_& module) {
    // Checked here, at import, rather than at the first store call: an old libsqlite3 would
    // otherwise fail later with an unresolved-symbol error far from its cause.
    if (!sqlite::library_is_supported())
        throw py::import_error("asap_native needs SQLite >= " + sqlite::minimum_version() +
                               ", but the SQLite library loaded is " + sqlite::library_version());
    // pyproject.toml's version, compiled in: asap_native.__version__ comes from here.
    module.attr("__version__") = ASAP_NATIVE_VERSION;
    module.def("sqlite_version", &sqlite::library_version,
               "The version of the SQLite library the stores use, e.g. '3.50.4'.");
    module.def("sqlite_bundled", &sqlite::library_is_bundled,
               "True when the stores use the SQLite copy built into the extension.");
    module.def("minimum_sqlite_version", &sqlite::minimum_version,
               "The oldest SQLite version the stores work with.");
}

}  // namespace asap_native::bindings
