#include "errors.hpp"

#include "asap_native/errors.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

const char* class_name_for(StoreErrorKind kind) {
    switch (kind) {
        case StoreErrorKind::Busy: return "DatabaseLockedError";
        case StoreErrorKind::ReadOnly: return "ReadOnlyDatabaseError";
        case StoreErrorKind::NotADatabase: return "NotADatabaseError";
        case StoreErrorKind::CantOpen: return "CannotOpenDatabaseError";
        case StoreErrorKind::IO: return "DatabaseIOError";
        case StoreErrorKind::Closed: return "StoreClosedError";
        case StoreErrorKind::Other: break;
    }
    return "StoreError";
}

void raise_store_error(const StoreError& error) {
    // asap_native.errors is pure Python, so these classes can also subclass sqlite3's.
    py::object errors = py::module_::import("asap_native.errors");
    py::object type = errors.attr(class_name_for(error.kind()));
    py::object instance = type(error.what());
    instance.attr("sqlite_errorcode") = error.sqlite_code();
    instance.attr("sqlite_errorname") = error.sqlite_error_name();
    PyErr_SetObject(type.ptr(), instance.ptr());
}

}  // namespace

void register_errors(py::module_&) {
    py::register_exception_translator([](std::exception_ptr pointer) {
        if (!pointer) return;
        try {
            std::rethrow_exception(pointer);
        } catch (const PathError& error) {
            py::object os_error = py::reinterpret_borrow<py::object>(PyExc_OSError);
            py::object instance = os_error(error.error_number(), error.what(), error.path());
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
        } catch (const InvalidArgument& error) {
            PyErr_SetString(PyExc_ValueError, error.what());
        } catch (const StoreError& error) {
            raise_store_error(error);
        }
    });
}

}  // namespace asap_native::bindings
