#include "errors.hpp"

#include "asap_native/errors.hpp"
#include "python_classes.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

py::object store_error_object(const StoreError& error) {
    py::object instance = store_error_class(error.kind())(error.what());
    instance.attr("sqlite_errorcode") = error.sqlite_code();
    instance.attr("sqlite_errorname") = error.sqlite_error_name();
    if (!error.sqlstate().empty()) instance.attr("sqlstate") = error.sqlstate();
    return instance;
}

void set_error(const py::object& instance) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
}

// The Python exception pybind11 would raise for one of its own C++ exception types.
py::object fetched(const py::builtin_exception& error) {
    error.set_error();
    return py::error_already_set().value();
}

}  // namespace

py::object python_exception(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const PathError& e) {
        return path_error_object(e.error_number(), e.what(), e.path());
    } catch (const SqlUsageError& e) {
        return sql_usage_error_class()(e.what());
    } catch (const InvalidArgument& e) {
        return py::reinterpret_borrow<py::object>(PyExc_ValueError)(e.what());
    } catch (const StoreError& e) {
        return store_error_object(e);
    } catch (const py::error_already_set& e) {
        return e.value();
    } catch (const py::builtin_exception& e) {
        return fetched(e);
    } catch (const std::bad_alloc&) {
        return py::reinterpret_borrow<py::object>(PyExc_MemoryError)();
    } catch (const std::exception& e) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what());
    } catch (...) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)("unknown C++ exception");
    }
}

void raise_stored_data_error(const std::string& message, std::exception_ptr cause) {
    py::object cause_object;
    if (cause) {
        cause_object = python_exception(cause);
        if (!PyObject_IsInstance(cause_object.ptr(), PyExc_ValueError))
            std::rethrow_exception(cause);
    }
    py::object error = store_error_class(StoreErrorKind::InvalidData)(message);
    if (cause_object) PyException_SetCause(error.ptr(), cause_object.release().ptr());
    set_error(error);
    throw py::error_already_set();
}

void register_errors(py::module_&) {
    py::register_exception_translator([](std::exception_ptr pointer) {
        if (!pointer) return;
        try {
            std::rethrow_exception(pointer);
        } catch (const PathError& error) {
            set_error(path_error_object(error.error_number(), error.what(), error.path()));
        } catch (const SqlUsageError& error) {
            set_error(sql_usage_error_class()(error.what()));
        } catch (const InvalidArgument& error) {
            PyErr_SetString(PyExc_ValueError, error.what());
        } catch (const StoreError& error) {
            set_error(store_error_object(error));
        }
    });
}

}  // namespace asap_native::bindings
