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

namespace asap_native::bindings {
namespace {

using Registrar = void (*)(pybind11::module_&);

// In dependency order: the exception classes and the model builders before the stores that
// raise and build them.
constexpr Registrar kRegistrars[] = {
    register_versions,    register_python_classes, register_errors,      register_fault_injection,
    register_json_reader, register_json_writer,    register_completions, register_model_builders,
    register_stores,      register_postgres,       register_repository,  register_maintenance,
    register_compression,
};

}  // namespace
}  // namespace asap_native::bindings

PYBIND11_MODULE(_core, module) {
    module.doc() = "C++ core of asap_native (use the asap_native package, not this module).";
    asap_native::bindings::install_exit_guard();
    for (const auto register_part : asap_native::bindings::kRegistrars) register_part(module);
}
