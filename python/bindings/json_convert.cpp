#include "json_convert.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Deep enough for any real state, shallow enough that C++ recursion cannot exhaust the
// stack (and a reference cycle ends here with a clear error instead of a crash).
constexpr int kMaxDepth = 500;

// Documents at least this long go to CPython's json.loads, which beats a SAX build there;
// shorter ones are faster through nlohmann's SAX parser. Measured by bench/bench_json.py.
constexpr std::size_t kLargeDocument = 32 * 1024;

struct EncodeError {
    PyObject* exception_type;  // PyExc_TypeError or PyExc_ValueError
    std::string message;
    std::vector<std::string> reversed_path;
};

// Types with a defined encoding, looked up once on first need.
struct KnownTypes {
    PyObject* datetime = nullptr;
    PyObject* date = nullptr;
    PyObject* time = nullptr;
    PyObject* uuid = nullptr;
    PyObject* decimal = nullptr;
    PyObject* enum_base = nullptr;

    static const KnownTypes& get() {
        // Leaked on purpose: types live as long as the interpreter and must not be
        // decref'd during finalization.
        static const KnownTypes* types = [] {
            auto* t = new KnownTypes();
            auto grab = [](const char* module, const char* name) {
                return py::object(py::module_::import(module).attr(name)).release().ptr();
            };
            t->datetime = grab("datetime", "datetime");
            t->date = grab("datetime", "date");
            t->time = grab("datetime", "time");
            t->uuid = grab("uuid", "UUID");
            t->decimal = grab("decimal", "Decimal");
            t->enum_base = grab("enum", "Enum");
            return t;
        }();
        return *types;
    }
};

bool is_instance(PyObject* obj, PyObject* type) {
    const int result = PyObject_IsInstance(obj, type);
    if (result < 0) throw py::error_already_set();
    return result == 1;
}

std::string python_repr(PyObject* obj) {
    PyObject* repr = PyObject_Repr(obj);
    if (repr == nullptr) {
        PyErr_Clear();
        return "?";
    }
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(repr, &size);
    std::string out = text ? std::string(text, static_cast<std::size_t>(size)) : "?";
    if (!text) PyErr_Clear();
    Py_DECREF(repr);
    return out;
}

std::string key_repr(PyObject* key) { return "[" + python_repr(key) + "]"; }

std::string type_name(PyObject* obj) { return Py_TYPE(obj)->tp_name; }

class JsonWriter {
public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    void write(PyObject* obj, int depth) {
        if (PyUnicode_CheckExact(obj)) return write_string(obj);
        if (PyLong_CheckExact(obj)) return write_int(obj);
        if (PyFloat_CheckExact(obj)) return write_float(PyFloat_AS_DOUBLE(obj));
        if (PyDict_CheckExact(obj)) return write_dict(obj, depth);
        if (PyList_CheckExact(obj)) return write_sequence(obj, depth);
        if (obj == Py_True) return out_.append("true"), void();
        if (obj == Py_False) return out_.append("false"), void();
        if (obj == Py_None) return out_.append("null"), void();
        if (PyTuple_CheckExact(obj)) return write_sequence(obj, depth);
        write_other(obj, depth);
    }

private:
    void check_depth(int depth) {
        if (depth > kMaxDepth)
            throw EncodeError{PyExc_ValueError,
                              "nesting deeper than " + std::to_string(kMaxDepth) +
                                  " levels (or a reference cycle)",
                              {}};
    }

    void write_string(PyObject* obj) {
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(obj, &size);
        if (text == nullptr) {
            PyErr_Clear();
            throw EncodeError{PyExc_ValueError,
                              "string is not valid Unicode (it holds a lone surrogate)", {}};
        }
        append_quoted(text, static_cast<std::size_t>(size));
    }

    void append_quoted(const char* text, std::size_t size) {
        static constexpr char kHex[] = "0123456789abcdef";
        out_.reserve(out_.size() + size + 2);
        out_.push_back('"');
        std::size_t run_start = 0;
        for (std::size_t i = 0; i < size; ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            out_.append(text + run_start, i - run_start);
            run_start = i + 1;
            switch (c) {
                case '"': out_.append("\\\""); break;
                case '\\': out_.append("\\\\"); break;
                case '\n': out_.append("\\n"); break;
                case '\r': out_.append("\\r"); break;
                case '\t': out_.append("\\t"); break;
                case '\b': out_.append("\\b"); break;
                case '\f': out_.append("\\f"); break;
                default: {
                    const char escaped[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
                    out_.append(escaped, sizeof escaped);
                }
            }
        }
        out_.append(text + run_start, size - run_start);
        out_.push_back('"');
    }

    void write_int(PyObject* obj) {
        int overflow = 0;
        const long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
        char buffer[24];
        if (overflow == 0) {
            if (value == -1 && PyErr_Occurred()) throw py::error_already_set();
            auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
            out_.append(buffer, result.ptr);
            return;
        }
        if (overflow > 0) {
            const unsigned long long big = PyLong_AsUnsignedLongLong(obj);
            if (!(big == static_cast<unsigned long long>(-1) && PyErr_Occurred())) {
                auto result = std::to_chars(buffer, buffer + sizeof buffer, big);
                out_.append(buffer, result.ptr);
                return;
            }
            PyErr_Clear();
        }
        throw EncodeError{PyExc_ValueError, "integer does not fit in 64 bits", {}};
    }

    void write_float(double value) {
        if (!std::isfinite(value))
            throw EncodeError{PyExc_ValueError,
                              "float " + std::string(std::isnan(value) ? "NaN" : "Infinity") +
                                  " is not valid JSON",
                              {}};
        char buffer[32];
        auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
        const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
        out_.append(text);
        // Keep a float a float when it is read back ("1" would come back as int 1).
        if (text.find_first_of(".e") == std::string_view::npos) out_.append(".0");
    }

    void write_dict(PyObject* dict, int depth) {
        check_depth(depth);
        out_.push_back('{');
        Py_ssize_t position = 0;
        PyObject* key;
        PyObject* value;
        bool first = true;
        while (PyDict_Next(dict, &position, &key, &value)) {
            if (!first) out_.push_back(',');
            first = false;
            if (!PyUnicode_Check(key))
                throw EncodeError{PyExc_TypeError,
                                  "keys must be str, not " + type_name(key) + " (key " +
                                      python_repr(key) + ")",
                                  {}};
            Py_INCREF(key);
            Py_INCREF(value);  // a __eq__/__hash__ or model_dump must not free them under us
            try {
                write_string(key);
                out_.push_back(':');
                write(value, depth + 1);
            } catch (EncodeError& error) {
                error.reversed_path.push_back(key_repr(key));
                Py_DECREF(key);
                Py_DECREF(value);
                throw;
            } catch (...) {
                Py_DECREF(key);
                Py_DECREF(value);
                throw;
            }
            Py_DECREF(key);
            Py_DECREF(value);
        }
        out_.push_back('}');
    }

    void write_sequence(PyObject* sequence, int depth) {
        check_depth(depth);
        PyObject* fast = PySequence_Fast(sequence, "expected a sequence");
        if (fast == nullptr) throw py::error_already_set();
        py::object owner = py::reinterpret_steal<py::object>(fast);
        out_.push_back('[');
        const Py_ssize_t size = PySequence_Fast_GET_SIZE(fast);
        for (Py_ssize_t i = 0; i < size; ++i) {
            if (i) out_.push_back(',');
            // Lists can change size while model_dump or __iter__ code runs; re-check bounds.
            if (i >= PySequence_Fast_GET_SIZE(fast)) break;
            py::object item = py::reinterpret_borrow<py::object>(PySequence_Fast_GET_ITEM(fast, i));
            try {
                write(item.ptr(), depth + 1);
            } catch (EncodeError& error) {
                error.reversed_path.push_back("[" + std::to_string(i) + "]");
                throw;
            }
        }
        out_.push_back(']');
    }

    void write_iterable(PyObject* iterable, int depth) {
        py::list items;
        try {
            items = py::list(py::reinterpret_borrow<py::object>(iterable));
        } catch (py::error_already_set& error) {
            throw EncodeError{PyExc_ValueError, "cannot iterate: " + std::string(error.what()), {}};
        }
        write_sequence(items.ptr(), depth);
    }

    void write_text_of(PyObject* obj, const char* method) {
        PyObject* text = method ? PyObject_CallMethod(obj, method, nullptr) : PyObject_Str(obj);
        if (text == nullptr) throw py::error_already_set();
        py::object owner = py::reinterpret_steal<py::object>(text);
        if (!PyUnicode_Check(text))
            throw EncodeError{PyExc_TypeError, "encoding of " + type_name(obj) + " is not a str", {}};
        write_string(text);
    }

    void write_other(PyObject* obj, int depth) {
        const KnownTypes& known = KnownTypes::get();
        // Enum first: IntEnum and StrEnum members are also int and str instances.
        if (is_instance(obj, known.enum_base)) {
            py::object value = py::reinterpret_borrow<py::object>(obj).attr("value");
            check_depth(depth);
            return write(value.ptr(), depth + 1);
        }
        if (PyUnicode_Check(obj)) return write_string(obj);
        if (PyLong_Check(obj)) return write_int(obj);
        if (PyFloat_Check(obj)) return write_float(PyFloat_AsDouble(obj));
        if (PyDict_Check(obj)) return write_dict(obj, depth);
        if (PyList_Check(obj) || PyTuple_Check(obj)) return write_sequence(obj, depth);
        if (is_instance(obj, known.datetime) || is_instance(obj, known.date) ||
            is_instance(obj, known.time))
            return write_text_of(obj, "isoformat");
        if (is_instance(obj, known.uuid) || is_instance(obj, known.decimal))
            return write_text_of(obj, nullptr);
        if (PyAnySet_Check(obj)) return write_iterable(obj, depth);
        if (PyObject_HasAttrString(reinterpret_cast<PyObject*>(Py_TYPE(obj)),
                                   "__pydantic_core_schema__")) {
            check_depth(depth);
            py::object dumped;
            try {
                dumped = py::reinterpret_borrow<py::object>(obj).attr("model_dump")(
                    py::arg("mode") = "json");
            } catch (py::error_already_set& error) {
                throw EncodeError{PyExc_ValueError,
                                  "model_dump(mode='json') of " + type_name(obj) +
                                      " failed: " + error.what(),
                                  {}};
            }
            return write(dumped.ptr(), depth + 1);
        }
        throw EncodeError{PyExc_TypeError,
                          "Object of type " + type_name(obj) + " is not JSON serializable", {}};
    }

    std::string& out_;
};

// Builds Python objects while nlohmann's parser walks the text; no intermediate DOM.
class PythonBuilder : public nlohmann::json_sax<nlohmann::json> {
public:
    ~PythonBuilder() override {
        Py_XDECREF(root_);
        Py_XDECREF(pending_key_);
    }

    PyObject* release_root() {
        PyObject* root = root_;
        root_ = nullptr;
        return root;
    }
    const std::string& error() const { return error_; }

    bool null() override { return add(Py_NewRef(Py_None)); }
    bool boolean(bool value) override { return add(Py_NewRef(value ? Py_True : Py_False)); }
    bool number_integer(number_integer_t value) override {
        return add(PyLong_FromLongLong(value));
    }
    bool number_unsigned(number_unsigned_t value) override {
        return add(PyLong_FromUnsignedLongLong(value));
    }
    bool number_float(number_float_t value, const string_t& text) override {
        // nlohmann reads integers beyond 64 bits as doubles; Python's json keeps them exact.
        if (text.find_first_of(".eE") == std::string::npos)
            return add(PyLong_FromString(text.c_str(), nullptr, 10));
        return add(PyFloat_FromDouble(value));
    }
    bool string(string_t& value) override { return add(decode(value)); }
    bool binary(binary_t&) override { return fail("binary values are not JSON"); }
    bool start_object(std::size_t) override { return open(PyDict_New(), true); }
    bool key(string_t& value) override {
        Py_XDECREF(pending_key_);
        pending_key_ = decode(value);
        return pending_key_ != nullptr;
    }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(PyList_New(0), false); }
    bool end_array() override { return close(); }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& error) override {
        error_ = error.what();
        (void)position;
        return false;
    }

private:
    struct Frame {
        PyObject* container;  // borrowed: owned by its parent or by root_
        bool is_dict;
    };

    static PyObject* decode(const std::string& text) {
        return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "strict");
    }

    bool fail(const char* message) {
        error_ = message;
        return false;
    }

    bool add(PyObject* value) {
        if (value == nullptr) return false;
        if (stack_.empty()) {
            Py_XDECREF(root_);
            root_ = value;
            return true;
        }
        const Frame& top = stack_.back();
        int rc;
        if (top.is_dict) {
            rc = PyDict_SetItem(top.container, pending_key_, value);
            Py_CLEAR(pending_key_);
        } else {
            rc = PyList_Append(top.container, value);
        }
        Py_DECREF(value);
        return rc == 0;
    }

    bool open(PyObject* container, bool is_dict) {
        if (container == nullptr) return false;
        Py_INCREF(container);  // one ref for add() to hand over, one kept while on the stack
        if (!add(container)) {
            Py_DECREF(container);
            return false;
        }
        stack_.push_back(Frame{container, is_dict});
        Py_DECREF(container);
        return true;
    }

    bool close() {
        stack_.pop_back();
        return true;
    }

    PyObject* root_ = nullptr;
    PyObject* pending_key_ = nullptr;
    std::vector<Frame> stack_;
    std::string error_;
};

py::object parse_with_json_module(std::string_view text) {
    static PyObject* loads = py::object(py::module_::import("json").attr("loads")).release().ptr();
    py::object source = py::reinterpret_steal<py::object>(
        PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "strict"));
    if (!source) throw py::error_already_set();
    PyObject* result = PyObject_CallOneArg(loads, source.ptr());
    if (result == nullptr) {
        py::error_already_set error;
        throw py::value_error(std::string("stored snapshot data is not valid JSON: ") + error.what());
    }
    return py::reinterpret_steal<py::object>(result);
}

}  // namespace

std::string python_to_json(py::handle data, const char* root_name) {
    std::string out;
    try {
        JsonWriter(out).write(data.ptr(), 0);
    } catch (EncodeError& error) {
        std::string path = root_name;
        for (auto it = error.reversed_path.rbegin(); it != error.reversed_path.rend(); ++it)
            path += *it;
        PyErr_SetString(error.exception_type, (path + ": " + error.message).c_str());
        throw py::error_already_set();
    }
    return out;
}

py::object json_to_python(std::string_view text) {
    if (text.size() >= kLargeDocument) return parse_with_json_module(text);
    PythonBuilder builder;
    const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder,
                                              nlohmann::json::input_format_t::json,
                                              /*strict=*/true);
    if (ok) return py::reinterpret_steal<py::object>(builder.release_root());
    if (PyErr_Occurred()) throw py::error_already_set();
    // Text written by other tools may hold NaN/Infinity, which Python's json accepts.
    return parse_with_json_module(text);
}

void register_json(py::module_& module) {
    module.def(
        "_dumps", [](py::handle data) { return py::bytes(python_to_json(data)); }, py::arg("data"),
        "Encode `data` as the JSON text a store would write (for tests and benchmarks).");
    module.def(
        "_loads", [](py::bytes text) { return json_to_python(std::string_view(text)); },
        py::arg("text"), "Decode JSON text as a store would on get (for tests and benchmarks).");
}

}  // namespace asap_native::bindings
