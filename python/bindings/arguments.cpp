#include "arguments.hpp"

#include <datetime.h>

namespace py = pybind11;

namespace asap_native::bindings {

PyObject* interned(const char* text) {
    PyObject* name = PyUnicode_InternFromString(text);
    if (name == nullptr) throw py::error_already_set();
    return name;
}

PyObject* kept_attribute(const char* module, const char* name) {
    return py::object(py::module_::import(module).attr(name)).release().ptr();
}

py::object required_attribute(py::handle owner, PyObject* attribute, const char* expected) {
    PyObject* value = PyObject_GetAttr(owner.ptr(), attribute);
    if (value == nullptr) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) throw py::error_already_set();
        PyErr_Clear();
        throw py::type_error(std::string("expected ") + expected + " with attribute '" +
                             PyUnicode_AsUTF8(attribute) + "', got " +
                             Py_TYPE(owner.ptr())->tp_name);
    }
    return py::reinterpret_steal<py::object>(value);
}

namespace {

// Python >= 3.11 shows notes under the message; older versions have no add_note.
void add_note(py::error_already_set& error, const std::string& note) {
    py::object value = error.value();
    if (!py::hasattr(value, "add_note")) return;
    value.attr("add_note")(note);
}

}  // namespace

std::string any_text(py::handle value, const char* what) {
    if (!PyUnicode_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be a str, not " +
                             Py_TYPE(value.ptr())->tp_name);
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (text == nullptr) {
        // Python's sqlite3 (so asap-protocol's stores) raises this UnicodeEncodeError too;
        // the note says which argument held the lone surrogate.
        py::error_already_set error;
        add_note(error, std::string("in ") + what);
        throw error;
    }
    return std::string(text, static_cast<std::size_t>(size));
}

std::string require_text(py::handle value, const char* what) {
    std::string text = any_text(value, what);
    if (text.empty()) throw py::value_error(std::string(what) + " must be a non-empty string");
    return text;
}

std::optional<std::int64_t> version_argument(py::handle value, const char* what) {
    if (value.is_none()) return std::nullopt;
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be an int or None, not " +
                             Py_TYPE(value.ptr())->tp_name);
    return int64_argument(value, what);
}

namespace {

// isoformat() of a naive or UTC datetime, written directly (a Python call costs more than
// the whole formatting). Returns false for anything else, which then calls isoformat().
bool format_utc_or_naive(PyObject* value, std::string& text) {
    static const bool imported = [] {
        PyDateTime_IMPORT;
        if (PyDateTimeAPI == nullptr) PyErr_Clear();
        return PyDateTimeAPI != nullptr;
    }();
    if (!imported || !PyDateTime_CheckExact(value)) return false;
    PyObject* zone = PyDateTime_DATE_GET_TZINFO(value);
    const bool utc = zone == PyDateTime_TimeZone_UTC;
    if (!utc && zone != Py_None) return false;
    // YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00], digit by digit (snprintf costs more than a save).
    char buffer[40];
    char* end = buffer;
    auto digits = [&end](int number, int width) {
        for (int i = width - 1; i >= 0; --i, number /= 10)
            end[i] = static_cast<char>('0' + number % 10);
        end += width;
    };
    digits(PyDateTime_GET_YEAR(value), 4);
    *end++ = '-';
    digits(PyDateTime_GET_MONTH(value), 2);
    *end++ = '-';
    digits(PyDateTime_GET_DAY(value), 2);
    *end++ = 'T';
    digits(PyDateTime_DATE_GET_HOUR(value), 2);
    *end++ = ':';
    digits(PyDateTime_DATE_GET_MINUTE(value), 2);
    *end++ = ':';
    digits(PyDateTime_DATE_GET_SECOND(value), 2);
    const int micros = PyDateTime_DATE_GET_MICROSECOND(value);
    if (micros != 0) {
        *end++ = '.';
        digits(micros, 6);
    }
    text.assign(buffer, static_cast<std::size_t>(end - buffer));
    if (utc) text += "+00:00";
    return true;
}

}  // namespace

std::string timestamp_text(py::handle value, const char* what) {
    static PyObject* isoformat = interned("isoformat");
    std::string text;
    if (format_utc_or_naive(value.ptr(), text)) return text;
    if (PyUnicode_Check(value.ptr())) {
        text = require_text(value, what);
    } else {
        PyObject* method_result = PyObject_HasAttr(value.ptr(), isoformat)
                                      ? PyObject_CallMethodNoArgs(value.ptr(), isoformat)
                                      : nullptr;
        if (method_result == nullptr) {
            if (PyErr_Occurred()) throw py::error_already_set();
            throw py::type_error(std::string(what) +
                                 " must be a datetime or an ISO-8601 str, not " +
                                 Py_TYPE(value.ptr())->tp_name);
        }
        text = require_text(py::reinterpret_steal<py::object>(method_result), what);
    }
    if (!parse_iso8601(text))
        throw py::value_error(std::string(what) + " is not an ISO-8601 date and time: '" +
                              text.substr(0, 64) + "'");
    return text;
}

std::int64_t int64_argument(py::handle value, const char* what) {
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be an int, not " +
                             Py_TYPE(value.ptr())->tp_name);
    int overflow = 0;
    const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0) {
        // What Python's sqlite3 raises binding such an int, so what asap-protocol raises.
        PyErr_Format(PyExc_OverflowError, "%s: Python int too large to convert to SQLite INTEGER",
                     what);
        throw py::error_already_set();
    }
    if (number == -1 && PyErr_Occurred()) throw py::error_already_set();
    return number;
}

UsageCount count_argument(py::handle value, const char* what) {
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be an int, not " +
                             Py_TYPE(value.ptr())->tp_name);
    int overflow = 0;
    const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow == 0) {
        if (number == -1 && PyErr_Occurred()) throw py::error_already_set();
        if (number < 0) throw py::value_error(std::string(what) + " must be >= 0");
        return number;
    }
    if (overflow < 0) throw py::value_error(std::string(what) + " must be >= 0");
    // Beyond 64 bits: split into 64-bit halves with Python's own arithmetic.
    py::int_ number_object = py::reinterpret_borrow<py::int_>(value);
    py::object high = number_object.attr("__rshift__")(64);
    const unsigned long long high_bits = PyLong_AsUnsignedLongLong(high.ptr());
    if (PyErr_Occurred() || high_bits >> 63 != 0) {
        PyErr_Clear();
        throw py::value_error(std::string(what) + " does not fit in 127 bits");
    }
    py::object low = number_object.attr("__and__")(py::int_(0xFFFFFFFFFFFFFFFFULL));
    const unsigned long long low_bits = PyLong_AsUnsignedLongLong(low.ptr());
    if (PyErr_Occurred()) throw py::error_already_set();
    return (static_cast<UsageCount>(high_bits) << 64) | static_cast<UsageCount>(low_bits);
}

std::string path_argument(py::handle value, const char* what) {
    static PyObject* fspath = kept_attribute("os", "fspath");
    PyObject* text = PyObject_CallOneArg(fspath, value.ptr());
    if (text == nullptr) {
        PyErr_Clear();
        throw py::type_error(std::string(what) + " must be a str or os.PathLike, not " +
                             Py_TYPE(value.ptr())->tp_name);
    }
    py::object owner = py::reinterpret_steal<py::object>(text);
    if (!PyUnicode_Check(text))
        throw py::type_error(std::string(what) + " must be a str path, not bytes");
    // os.fsencode(): a name read from the file system with bytes that are not UTF-8 comes
    // back as the same bytes, as Python's sqlite3.connect() passes it.
    PyObject* encoded = PyUnicode_EncodeFSDefault(text);
    if (encoded == nullptr) throw py::error_already_set();
    const py::object owned = py::reinterpret_steal<py::object>(encoded);
    return std::string(PyBytes_AS_STRING(encoded),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(encoded)));
}

InstantMicros instant_of(py::handle value, const char* what) {
    return *parse_iso8601(timestamp_text(value, what));
}

}  // namespace asap_native::bindings
