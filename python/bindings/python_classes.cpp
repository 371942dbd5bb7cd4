#include "python_classes.hpp"

#include <array>
#include <optional>

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

constexpr std::array<std::pair<StoreErrorKind, const char*>, 11> kKindNames{{
    {StoreErrorKind::Busy, "busy"},
    {StoreErrorKind::ReadOnly, "read_only"},
    {StoreErrorKind::NotADatabase, "not_a_database"},
    {StoreErrorKind::CantOpen, "cant_open"},
    {StoreErrorKind::IO, "io"},
    {StoreErrorKind::Closed, "closed"},
    {StoreErrorKind::InvalidData, "invalid_data"},
    {StoreErrorKind::Connection, "connection"},
    {StoreErrorKind::Authentication, "authentication"},
    {StoreErrorKind::Timeout, "timeout"},
    {StoreErrorKind::Other, "other"},
}};

// Registered once and kept for the interpreter's life: never decref'd, so nothing here runs
// Python code during finalization.
struct Registry {
    std::array<PyObject*, kKindNames.size()> error_classes{};
    PyObject* sql_usage_error = nullptr;
    PyObject* path_error = nullptr;
    PyObject* model_resolver = nullptr;
    std::optional<ModelFactories> models;
    std::array<PyObject*, 3> codec_errors{};
};

Registry& registry() {
    static Registry* instance = new Registry();
    return *instance;
}

std::size_t kind_index(StoreErrorKind kind) {
    for (std::size_t i = 0; i < kKindNames.size(); ++i)
        if (kKindNames[i].first == kind) return i;
    return kKindNames.size() - 1;  // Other
}

void require_registered(const void* pointer) {
    if (pointer == nullptr)
        throw std::logic_error(
            "asap_native._core is used before asap_native registered its classes; import "
            "asap_native, not asap_native._core");
}

}  // namespace

py::handle store_error_class(StoreErrorKind kind) {
    PyObject* type = registry().error_classes[kind_index(kind)];
    require_registered(type);
    return type;
}

py::handle sql_usage_error_class() {
    require_registered(registry().sql_usage_error);
    return registry().sql_usage_error;
}

py::object path_error_object(int error_number, const std::string& message,
                             const std::string& path) {
    require_registered(registry().path_error);
    return py::reinterpret_borrow<py::object>(registry().path_error)(error_number, message, path);
}

py::handle codec_error_class(CodecError kind) {
    PyObject* type = registry().codec_errors[static_cast<std::size_t>(kind)];
    if (type == nullptr)
        throw std::logic_error(
            "the codecs of asap_native._core are used before asap_native.compression registered "
            "its exceptions; use asap_native.compression");
    return type;
}

const ModelFactories& model_factories() {
    Registry& r = registry();
    if (!r.models) {
        require_registered(r.model_resolver);
        py::tuple built = py::reinterpret_borrow<py::object>(r.model_resolver)();
        if (built.size() != 3) throw py::type_error("the model resolver must return 3 factories");
        r.models = ModelFactories{built[0], built[1], built[2]};
        // Kept for the interpreter's life, like the classes above.
        for (py::handle factory : {r.models->snapshot, r.models->event, r.models->aggregate})
            factory.inc_ref();
    }
    return *r.models;
}

void register_python_classes(py::module_& module) {
    module.def(
        "_register_python_classes",
        [](py::dict errors, py::object path_error, py::object model_resolver) {
            Registry& r = registry();
            for (std::size_t i = 0; i < kKindNames.size(); ++i) {
                py::object type = errors[py::str(kKindNames[i].second)];
                if (!PyType_Check(type.ptr()) ||
                    !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type.ptr()),
                                      reinterpret_cast<PyTypeObject*>(PyExc_Exception)))
                    throw py::type_error(std::string("errors['") + kKindNames[i].second +
                                         "'] must be an exception class");
                r.error_classes[i] = type.release().ptr();
            }
            r.sql_usage_error = py::object(errors["sql_usage"]).release().ptr();
            r.path_error = path_error.release().ptr();
            r.model_resolver = model_resolver.release().ptr();
            r.models.reset();
        },
        py::arg("errors"), py::arg("path_error"), py::arg("model_resolver"),
        "Hands _core the exception classes it raises and the model builders it calls "
        "(asap_native does this once, at import).");
    module.def(
        "_register_codec_errors",
        [](py::object truncated, py::object corrupt, py::object limit_exceeded) {
            Registry& r = registry();
            r.codec_errors = {truncated.release().ptr(), corrupt.release().ptr(),
                              limit_exceeded.release().ptr()};
        },
        py::arg("truncated"), py::arg("corrupt"), py::arg("limit_exceeded"),
        "Hands _core the codecs' exception classes (asap_native.compression does this once, "
        "at import).");
}

}  // namespace asap_native::bindings
