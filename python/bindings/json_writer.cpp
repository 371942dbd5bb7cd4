#include "json_writer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "arguments.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Deep enough for any real state, shallow enough that C++ recursion cannot exhaust the
// stack (and a reference cycle ends here with a clear error instead of a crash).
constexpr int kMaxDepth = 500;

struct EncodeError {
    PyObject* exception_type;  // PyExc_TypeError or PyExc_ValueError
    std::string message;
    std::vector<std::string> reversed_path;
};

// Types with a defined encoding, looked up once on first need.
struct KnownTypes {
    PyObject* datetime = kept_attribute("datetime", "datetime");
    PyObject* date = kept_attribute("datetime", "date");
    PyObject* time = kept_attribute("datetime", "time");
    PyObject* uuid = kept_attribute("uuid", "UUID");
    PyObject* decimal = kept_attribute("decimal", "Decimal");
    PyObject* enum_base = kept_attribute("enum", "Enum");
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

// The items of the dicts and lists being written, innermost container last. A container's
// items are taken, with a reference each, before any of them is written: what runs while a
// value is encoded (isoformat(), model_dump(), __str__) may change the container, and must
// change neither what is written nor whether it is valid JSON. One buffer per thread, used
// as a stack, so nested (even re-entrant) writes allocate nothing once it has grown.
class TakenItems {
public:
    TakenItems() : stack_(buffer()), start_(stack_.size()) {}
    ~TakenItems() {
        for (std::size_t i = start_; i < stack_.size(); ++i) Py_DECREF(stack_[i]);
        stack_.resize(start_);
    }
    TakenItems(const TakenItems&) = delete;
    TakenItems& operator=(const TakenItems&) = delete;

    void add(PyObject* item) {
        stack_.push_back(item);  // first: if it throws, no reference is left behind
        Py_INCREF(item);
    }
    std::size_t size() const { return stack_.size() - start_; }
    PyObject* operator[](std::size_t index) const { return stack_[start_ + index]; }

private:
    static std::vector<PyObject*>& buffer() {
        thread_local std::vector<PyObject*> items;
        return items;
    }
    std::vector<PyObject*>& stack_;
    std::size_t start_;
};

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
        if (PyUnicode_IS_COMPACT_ASCII(obj)) {  // the common case: no UTF-8 conversion at all
            append_quoted(static_cast<const char*>(PyUnicode_DATA(obj)),
                          static_cast<std::size_t>(PyUnicode_GET_LENGTH(obj)));
            return;
        }
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(obj, &size);
        if (text == nullptr) {
            PyErr_Clear();
            throw EncodeError{
                PyExc_ValueError, "string is not valid Unicode (it holds a lone surrogate)", {}};
        }
        append_quoted(text, static_cast<std::size_t>(size));
    }

    // True when any of the 8 bytes is a control character, '"' or '\\' (SWAR test).
    static bool word_needs_escape(std::uint64_t word) {
        constexpr std::uint64_t ones = 0x0101010101010101ULL;
        constexpr std::uint64_t highs = 0x8080808080808080ULL;
        auto has_zero = [&](std::uint64_t v) { return (v - ones) & ~v & highs; };
        const std::uint64_t below_space = (word - ones * 0x20) & ~word & highs;
        return (below_space | has_zero(word ^ (ones * '"')) | has_zero(word ^ (ones * '\\'))) != 0;
    }

    void append_quoted(const char* text, std::size_t size) {
        static constexpr char kHex[] = "0123456789abcdef";
        out_.reserve(out_.size() + size + 2);
        out_.push_back('"');
        std::size_t i = 0;
        // Skip 8 clean bytes at a time; most strings have nothing to escape.
        while (i + 8 <= size) {
            std::uint64_t word;
            std::memcpy(&word, text + i, 8);
            if (word_needs_escape(word)) break;
            i += 8;
        }
        std::size_t run_start = 0;
        for (; i < size; ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            out_.append(text + run_start, i - run_start);
            run_start = i + 1;
            switch (c) {
                case '"':
                    out_.append("\\\"");
                    break;
                case '\\':
                    out_.append("\\\\");
                    break;
                case '\n':
                    out_.append("\\n");
                    break;
                case '\r':
                    out_.append("\\r");
                    break;
                case '\t':
                    out_.append("\\t");
                    break;
                case '\b':
                    out_.append("\\b");
                    break;
                case '\f':
                    out_.append("\\f");
                    break;
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
        if (overflow == 0) {
            if (value == -1 && PyErr_Occurred()) throw py::error_already_set();
            char buffer[24];
            auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
            out_.append(buffer, result.ptr);
            return;
        }
        // Beyond 64 bits: the exact decimal digits, as json.dumps writes them.
        PyObject* digits = PyLong_Type.tp_repr(obj);
        if (digits == nullptr) throw py::error_already_set();
        py::object owner = py::reinterpret_steal<py::object>(digits);
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(digits, &size);
        if (text == nullptr) throw py::error_already_set();
        out_.append(text, static_cast<std::size_t>(size));
    }

    void write_float(double value) {
        // NaN and the infinities as json.dumps writes them (allow_nan=True, its default), so
        // the text reads back with json.loads, as asap-protocol's stores read it.
        if (std::isnan(value)) return out_.append("NaN"), void();
        if (std::isinf(value)) return out_.append(value > 0 ? "Infinity" : "-Infinity"), void();
        char buffer[32];
        auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
        const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
        out_.append(text);
        // Keep a float a float when it is read back ("1" would come back as int 1).
        if (text.find_first_of(".e") == std::string_view::npos) out_.append(".0");
    }

    void write_dict(PyObject* dict, int depth) {
        check_depth(depth);
        TakenItems items;  // key, value, key, value...
        if (PyDict_CheckExact(dict)) {
            Py_ssize_t position = 0;
            PyObject* key;
            PyObject* value;
            while (PyDict_Next(dict, &position, &key, &value)) {
                items.add(key);
                items.add(value);
            }
        } else {  // a subclass: its own items() order, as json.dumps takes it
            PyObject* pairs = PyMapping_Items(dict);
            if (pairs == nullptr) throw py::error_already_set();
            py::object owner = py::reinterpret_steal<py::object>(pairs);
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pairs); ++i) {
                PyObject* pair = PyList_GET_ITEM(pairs, i);
                if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2)
                    throw EncodeError{
                        PyExc_ValueError,
                        "items() of " + type_name(dict) + " must give (key, value) pairs",
                        {}};
                items.add(PyTuple_GET_ITEM(pair, 0));
                items.add(PyTuple_GET_ITEM(pair, 1));
            }
        }
        out_.push_back('{');
        for (std::size_t i = 0; i < items.size(); i += 2) {
            PyObject* key = items[i];
            if (i) out_.push_back(',');
            if (!PyUnicode_Check(key))
                throw EncodeError{
                    PyExc_TypeError,
                    "keys must be str, not " + type_name(key) + " (key " + python_repr(key) + ")",
                    {}};
            try {
                write_string(key);
                out_.push_back(':');
                write(items[i + 1], depth + 1);
            } catch (EncodeError& error) {
                error.reversed_path.push_back(key_repr(key));
                throw;
            }
        }
        out_.push_back('}');
    }

    void write_sequence(PyObject* sequence, int depth) {
        check_depth(depth);
        TakenItems items;
        if (PyList_Check(sequence)) {
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sequence); ++i)
                items.add(PyList_GET_ITEM(sequence, i));
        } else {  // a tuple: its items cannot change
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sequence); ++i)
                items.add(PyTuple_GET_ITEM(sequence, i));
        }
        out_.push_back('[');
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) out_.push_back(',');
            try {
                write(items[i], depth + 1);
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
            throw EncodeError{
                PyExc_TypeError, "encoding of " + type_name(obj) + " is not a str", {}};
        write_string(text);
    }

    void write_other(PyObject* obj, int depth) {
        const KnownTypes& known = kept_table<KnownTypes>();
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
                throw EncodeError{
                    PyExc_ValueError,
                    "model_dump(mode='json') of " + type_name(obj) + " failed: " + error.what(),
                    {}};
            }
            return write(dumped.ptr(), depth + 1);
        }
        throw EncodeError{
            PyExc_TypeError, "Object of type " + type_name(obj) + " is not JSON serializable", {}};
    }

    std::string& out_;
};

}  // namespace

std::string python_to_json(py::handle data, const char* root_name) {
    // Documents of one application tend to be alike in size: start from the last one's, so
    // the text is not copied again and again as the buffer grows.
    thread_local std::size_t size_hint = 256;
    std::string out;
    out.reserve(size_hint + size_hint / 8);
    try {
        JsonWriter(out).write(data.ptr(), 0);
        size_hint = std::min<std::size_t>(out.size(), 8u << 20);
    } catch (EncodeError& error) {
        std::string path = root_name;
        for (auto it = error.reversed_path.rbegin(); it != error.reversed_path.rend(); ++it)
            path += *it;
        PyErr_SetString(error.exception_type, (path + ": " + error.message).c_str());
        throw py::error_already_set();
    }
    return out;
}

void register_json_writer(py::module_& module) {
    module.def(
        "_dumps", [](py::handle data) { return py::bytes(python_to_json(data)); }, py::arg("data"),
        "Encode `data` as the JSON text a store would write (for tests and benchmarks).");
}

}  // namespace asap_native::bindings
