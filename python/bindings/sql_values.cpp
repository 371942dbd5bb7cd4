#include "sql_values.hpp"

#include <cctype>
#include <string_view>

#include "arguments.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Python's sqlite3 module, for what it defines that binding must follow: its adapters
// (sqlite3.adapt) and its exception classes. Looked up once.
struct Sqlite3Module {
    PyObject* adapt = kept_attribute("sqlite3", "adapt");
    PyObject* prepare_protocol = kept_attribute("sqlite3", "PrepareProtocol");
    PyObject* operational_error = kept_attribute("sqlite3", "OperationalError");
    PyObject* programming_error = kept_attribute("sqlite3", "ProgrammingError");
};

[[noreturn]] void raise_programming_error(const std::string& message) {
    PyErr_SetString(kept_table<Sqlite3Module>().programming_error, message.c_str());
    throw py::error_already_set();
}

// One parameter as Python's sqlite3 binds it: exact int/float/str/bytearray as they are,
// anything else through sqlite3's adapters first (sqlite3.register_adapter, __conform__),
// then by type: None, int, float, str, or a buffer as a BLOB.
SqlValue parameter_value(PyObject* value, std::size_t position) {
    py::object adapted;
    if (!(PyLong_CheckExact(value) || PyFloat_CheckExact(value) || PyUnicode_CheckExact(value) ||
          PyByteArray_CheckExact(value) || value == Py_None)) {
        const Sqlite3Module& sqlite3 = kept_table<Sqlite3Module>();
        PyObject* result = PyObject_CallFunctionObjArgs(sqlite3.adapt, value,
                                                        sqlite3.prepare_protocol, value, nullptr);
        if (result == nullptr) throw py::error_already_set();
        adapted = py::reinterpret_steal<py::object>(result);
        value = adapted.ptr();
    }
    if (value == Py_None) return std::monostate{};
    if (PyLong_Check(value)) {
        int overflow = 0;
        const long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow != 0) {
            PyErr_SetString(PyExc_OverflowError,
                            "Python int too large to convert to SQLite INTEGER");
            throw py::error_already_set();
        }
        if (number == -1 && PyErr_Occurred()) throw py::error_already_set();
        return static_cast<std::int64_t>(number);
    }
    if (PyFloat_Check(value)) return PyFloat_AsDouble(value);
    if (PyUnicode_Check(value)) {
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(value, &size);
        if (text == nullptr) throw py::error_already_set();
        return std::string(text, static_cast<std::size_t>(size));
    }
    if (PyObject_CheckBuffer(value)) {
        Py_buffer view;
        if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
        std::string bytes(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
        PyBuffer_Release(&view);
        return SqlBlob{std::move(bytes)};
    }
    raise_programming_error("Error binding parameter " + std::to_string(position) + ": type '" +
                            Py_TYPE(value)->tp_name + "' is not supported");
}

// A character SQLite allows in a parameter name after its prefix (tokenize.c's IdChar).
bool name_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x80 || std::isalnum(byte) != 0 || c == '_' || c == '$';
}

// False when `sql` cannot have a parameter named `name` (":name", "@name", "$name", "#name"):
// sqlite3 looks up only the names a statement has, so the values of other keys are never
// converted (nor their adapters called). True may be wrong the other way (the text inside a
// string literal, say): that value is converted for nothing.
bool may_name(std::string_view sql, std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t at = sql.find(name, 1); at != std::string_view::npos;
         at = sql.find(name, at + 1)) {
        const char prefix = sql[at - 1];
        const std::size_t end = at + name.size();
        if ((prefix == ':' || prefix == '@' || prefix == '$' || prefix == '#') &&
            (end == sql.size() || !name_char(sql[end])))
            return true;
    }
    return false;
}

}  // namespace

SqlParameters sql_parameters(py::handle parameters, std::string_view sql,
                             std::optional<std::int64_t> last_insert_rowid) {
    SqlParameters out;
    out.last_insert_rowid = last_insert_rowid;
    PyObject* object = parameters.ptr();
    if (PyDict_Check(object)) {
        out.by_name = true;
        Py_ssize_t position = 0;
        PyObject* key;
        PyObject* value;
        std::size_t index = 0;
        while (PyDict_Next(object, &position, &key, &value)) {
            ++index;
            if (!PyUnicode_Check(key)) continue;  // sqlite3 looks names up as str
            std::string name = any_text(key, "parameter name");
            if (!may_name(sql, name)) continue;
            Py_INCREF(value);
            py::object held = py::reinterpret_steal<py::object>(value);
            SqlValue converted = parameter_value(value, index);
            out.named.emplace(std::move(name), std::move(converted));
        }
        return out;
    }
    // As sqlite3: any sequence that is not a dict binds by position (a str or bytes too).
    if (PyTuple_Check(object) || PyList_Check(object) || PySequence_Check(object)) {
        const Py_ssize_t size = PySequence_Size(object);
        if (size < 0) throw py::error_already_set();
        out.positional.reserve(static_cast<std::size_t>(size));
        for (Py_ssize_t i = 0; i < size; ++i) {
            py::object item = py::reinterpret_steal<py::object>(PySequence_GetItem(object, i));
            if (!item) throw py::error_already_set();
            out.positional.push_back(parameter_value(item.ptr(), static_cast<std::size_t>(i + 1)));
        }
        return out;
    }
    raise_programming_error("parameters are of unsupported type");
}

py::object to_python(const SqlResult& result) {
    py::tuple columns(result.columns.size());
    for (std::size_t i = 0; i < result.columns.size(); ++i) columns[i] = py::str(result.columns[i]);
    py::list rows;
    py::object undecodable = py::none();
    for (std::size_t r = 0; r < result.rows.size() && undecodable.is_none(); ++r) {
        const auto& row = result.rows[r];
        py::tuple values(row.size());
        for (std::size_t c = 0; c < row.size(); ++c) {
            const SqlValue& value = row[c];
            if (const auto* number = std::get_if<std::int64_t>(&value)) {
                values[c] = py::int_(*number);
            } else if (const auto* real = std::get_if<double>(&value)) {
                values[c] = py::float_(*real);
            } else if (const auto* text = std::get_if<std::string>(&value)) {
                PyObject* decoded = PyUnicode_DecodeUTF8(
                    text->data(), static_cast<Py_ssize_t>(text->size()), "strict");
                if (decoded == nullptr) {
                    PyErr_Clear();
                    // Python's sqlite3 says so when this row is fetched, with the same class
                    // and words (%s decodes with errors="replace" and stops at a NUL, as there).
                    PyObject* message =
                        PyUnicode_FromFormat("Could not decode to UTF-8 column '%s' with text '%s'",
                                             result.columns[c].c_str(), text->c_str());
                    if (message == nullptr) throw py::error_already_set();
                    undecodable = py::reinterpret_borrow<py::object>(
                        kept_table<Sqlite3Module>().operational_error)(
                        py::reinterpret_steal<py::object>(message));
                    break;
                }
                values[c] = py::reinterpret_steal<py::object>(decoded);
            } else if (const auto* blob = std::get_if<SqlBlob>(&value)) {
                values[c] = py::bytes(blob->bytes);
            } else {
                values[c] = py::none();
            }
        }
        if (undecodable.is_none()) rows.append(std::move(values));
    }
    return py::make_tuple(std::move(columns), std::move(rows), result.rowcount, result.lastrowid,
                          std::move(undecodable));
}

py::object to_python_now(const SqlResult& result) {
    py::object raw = to_python(result);
    py::object undecodable = raw[py::int_(4)];
    if (!undecodable.is_none()) {
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(undecodable.ptr())), undecodable.ptr());
        throw py::error_already_set();
    }
    return raw;
}

}  // namespace asap_native::bindings
