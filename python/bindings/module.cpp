// The asap_native._core extension module: glue between Python and the C++ core.
#include <pybind11/pybind11.h>

#include "completions.hpp"
#include "compression.hpp"
#include "errors.hpp"
#include "fault_injection.hpp"
#include "gil.hpp"
#include "json_reader.hpp"
#include "json_writer.hpp"
#include "maintenance.hpp"
#include "model_builder.hpp"
#include "postgres.hpp"
#include "python_classes.hpp"
#include "repository.hpp"
#include "stores.hpp"
#include "versions.hpp"

PYBIND11_MODULE(_core, module) {
    module.doc() = "C++ core of asap_native (use the asap_native package, not this module).";
    asap_native::bindings::register_versions(module);
    asap_native::bindings::install_exit_guard();
    asap_native::bindings::register_python_classes(module);
    asap_native::bindings::register_errors(module);
    asap_native::bindings::register_fault_injection(module);
    asap_native::bindings::register_json_reader(module);
    asap_native::bindings::register_json_writer(module);
    asap_native::bindings::register_completions(module);
    asap_native::bindings::register_model_builders(module);
    asap_native::bindings::register_stores(module);
    asap_native::bindings::register_postgres(module);
    asap_native::bindings::register_repository(module);
    asap_native::bindings::register_maintenance(module);
    asap_native::bindings::register_compression(module);
}
