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

// Database failures are worth a warning in the server's log; the message is SQLite's own
// and never carries snapshot data or usage payloads.
void log_store_error(const char* class_name, const StoreError& error) {
    if (error.kind() == StoreErrorKind::Closed) return;  // a caller bug, not a database event
    try {
        py::object logger = py::module_::import("logging").attr("getLogger")("asap_native");
        logger.attr("warning")("%s: %s (%s)", class_name, error.what(),
                               error.sqlite_error_name());
    } catch (py::error_already_set&) {
        // Logging must never replace the error being reported (e.g. during shutdown).
    }
}

py::object store_error_object(const StoreError& error) {
    // asap_native.errors is pure Python, so these classes can also subclass sqlite3's.
    py::object errors = py::module_::import("asap_native.errors");
    log_store_error(class_name_for(error.kind()), error);
    py::object type = errors.attr(class_name_for(error.kind()));
    py::object instance = type(error.what());
    instance.attr("sqlite_errorcode") = error.sqlite_code();
    instance.attr("sqlite_errorname") = error.sqlite_error_name();
    return instance;
}

py::object os_error_object(const PathError& error) {
    // OSError(errno, ...) picks the matching subclass (FileNotFoundError, IsADirectoryError...).
    py::object os_error = py::reinterpret_borrow<py::object>(PyExc_OSError);
    return os_error(error.error_number(), error.what(), error.path());
}

void raise_object(const py::object& instance) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
}

}  // namespace

py::object python_exception(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const PathError& e) {
        return os_error_object(e);
    } catch (const InvalidArgument& e) {
        return py::reinterpret_borrow<py::object>(PyExc_ValueError)(e.what());
    } catch (const StoreError& e) {
        return store_error_object(e);
    } catch (const py::error_already_set& e) {
        return e.value();
    } catch (const std::bad_alloc&) {
        return py::reinterpret_borrow<py::object>(PyExc_MemoryError)();
    } catch (const std::exception& e) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what());
    } catch (...) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)("unknown C++ exception");
    }
}

void register_errors(py::module_&) {
    py::register_exception_translator([](std::exception_ptr pointer) {
        if (!pointer) return;
        try {
            std::rethrow_exception(pointer);
        } catch (const PathError& error) {
            raise_object(os_error_object(error));
        } catch (const InvalidArgument& error) {
            PyErr_SetString(PyExc_ValueError, error.what());
        } catch (const StoreError& error) {
            raise_object(store_error_object(error));
        }
    });
}

}  // namespace asap_native::bindings
