// JSON text -> Python objects, for snapshot data read back from a store.
//
// Measured on snapshot-like data (bench/bench_json.py), building Python objects while
// scanning the text beats both CPython's json.loads and a build driven by nlohmann's SAX
// parser (which allocates a std::string per token). Anything this reader does not handle
// itself (malformed text, NaN/Infinity, out-of-range floats, very deep nesting, invalid
// UTF-8) is handed to json.loads, so results and errors match Python's json module.
#include "json_reader.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "arguments.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Deeper documents go to json.loads (our writer never produces them).
constexpr int kMaxDepth = 500;

// Keys repeat within a document (lists of similar objects); reuse their str objects.
class KeyCache {
public:
    ~KeyCache() {
        for (auto& slot : slots_) Py_XDECREF(slot.key);
    }

    // A new reference to an ASCII key equal to [text, text + size), or nullptr on MemoryError.
    PyObject* get(const char* text, std::size_t size) {
        if (size > kMaxKeyLength) return make(text, size);
        std::uint32_t hash = 2166136261u;
        for (std::size_t i = 0; i < size; ++i)
            hash = (hash ^ static_cast<unsigned char>(text[i])) * 16777619u;
        Slot& slot = slots_[hash % kSlots];
        if (slot.key != nullptr && slot.size == size &&
            std::memcmp(PyUnicode_DATA(slot.key), text, size) == 0) {
            Py_INCREF(slot.key);
            return slot.key;
        }
        PyObject* key = make(text, size);
        if (key == nullptr) return nullptr;
        Py_XDECREF(slot.key);
        Py_INCREF(key);
        slot.key = key;
        slot.size = size;
        return key;
    }

    static PyObject* make(const char* text, std::size_t size) {
        PyObject* key = PyUnicode_New(static_cast<Py_ssize_t>(size), 127);
        if (key != nullptr) std::memcpy(PyUnicode_DATA(key), text, size);
        return key;
    }

private:
    static constexpr std::size_t kSlots = 256;
    static constexpr std::size_t kMaxKeyLength = 64;
    struct Slot {
        PyObject* key = nullptr;
        std::size_t size = 0;
    };
    Slot slots_[kSlots];
};

// Recursive-descent reader. Returns new references; nullptr means either a Python error is
// set (MemoryError...) or, with no error set, "let json.loads handle this document".
class JsonReader {
public:
    JsonReader(const char* begin, const char* end) : pos_(begin), end_(end) {}

    PyObject* document() {
        skip_space();
        PyObject* root = value(0);
        if (root == nullptr) return nullptr;
        skip_space();
        if (pos_ != end_) {  // trailing text: json.loads reports it
            Py_DECREF(root);
            return nullptr;
        }
        return root;
    }

private:
    char peek() const { return pos_ < end_ ? *pos_ : '\0'; }

    void skip_space() {
        while (pos_ < end_ && (*pos_ == ' ' || *pos_ == '\n' || *pos_ == '\r' || *pos_ == '\t'))
            ++pos_;
    }

    bool literal(const char* word, std::size_t size) {
        if (static_cast<std::size_t>(end_ - pos_) < size || std::memcmp(pos_, word, size) != 0)
            return false;
        pos_ += size;
        return true;
    }

    PyObject* value(int depth) {
        switch (peek()) {
            case '{':
                return object(depth + 1);
            case '[':
                return array(depth + 1);
            case '"':
                return string(false);
            case 't':
                return literal("true", 4) ? Py_NewRef(Py_True) : nullptr;
            case 'f':
                return literal("false", 5) ? Py_NewRef(Py_False) : nullptr;
            case 'n':
                return literal("null", 4) ? Py_NewRef(Py_None) : nullptr;
            default:
                return number();
        }
    }

    PyObject* object(int depth) {
        if (depth > kMaxDepth) return nullptr;
        ++pos_;  // '{'
        PyObject* dict = PyDict_New();
        if (dict == nullptr) return nullptr;
        skip_space();
        if (peek() == '}') {
            ++pos_;
            return dict;
        }
        for (;;) {
            skip_space();
            if (peek() != '"') break;
            PyObject* key = string(true);
            if (key == nullptr) break;
            skip_space();
            if (peek() != ':') {
                Py_DECREF(key);
                break;
            }
            ++pos_;
            skip_space();
            PyObject* item = value(depth);
            if (item == nullptr) {
                Py_DECREF(key);
                break;
            }
            const int rc = PyDict_SetItem(dict, key, item);
            Py_DECREF(key);
            Py_DECREF(item);
            if (rc != 0) break;
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') {
                ++pos_;
                return dict;
            }
            break;
        }
        Py_DECREF(dict);
        return nullptr;
    }

    PyObject* array(int depth) {
        if (depth > kMaxDepth) return nullptr;
        ++pos_;  // '['
        const std::size_t base = items_.size();
        auto release_items = [&] {
            for (std::size_t i = base; i < items_.size(); ++i) Py_DECREF(items_[i]);
            items_.resize(base);
        };
        skip_space();
        if (peek() == ']') {
            ++pos_;
            return PyList_New(0);
        }
        for (;;) {
            skip_space();
            PyObject* item = value(depth);
            if (item == nullptr) break;
            items_.push_back(item);
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() != ']') break;
            ++pos_;
            const std::size_t count = items_.size() - base;
            PyObject* list = PyList_New(static_cast<Py_ssize_t>(count));
            if (list == nullptr) break;
            for (std::size_t i = 0; i < count; ++i)
                PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), items_[base + i]);  // steals
            items_.resize(base);
            return list;
        }
        release_items();
        return nullptr;
    }

    PyObject* string(bool is_key) {
        ++pos_;  // opening quote
        const char* start = pos_;
        bool ascii = true;
        while (pos_ < end_) {
            const auto c = static_cast<unsigned char>(*pos_);
            if (c == '"') {
                const auto size = static_cast<std::size_t>(pos_ - start);
                ++pos_;
                if (ascii) return is_key ? keys_.get(start, size) : KeyCache::make(start, size);
                return decode(start, size);
            }
            if (c == '\\') return escaped_string(start);
            if (c < 0x20) return nullptr;  // raw control character: invalid JSON
            if (c >= 0x80) ascii = false;
            ++pos_;
        }
        return nullptr;  // unterminated
    }

    // Decodes UTF-8; invalid bytes are left to json.loads (which reports them).
    static PyObject* decode(const char* text, std::size_t size) {
        PyObject* result =
            PyUnicode_DecodeUTF8(text, static_cast<Py_ssize_t>(size), "surrogatepass");
        if (result == nullptr && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
        return result;
    }

    static int hex_digit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    bool read_hex4(std::uint32_t& code) {
        if (end_ - pos_ < 4) return false;
        code = 0;
        for (int i = 0; i < 4; ++i) {
            const int digit = hex_digit(pos_[i]);
            if (digit < 0) return false;
            code = code * 16 + static_cast<std::uint32_t>(digit);
        }
        pos_ += 4;
        return true;
    }

    void append_utf8(std::uint32_t code) {
        // Lone surrogates are kept (as json.loads keeps them), encoded for "surrogatepass".
        if (code < 0x80) {
            buffer_.push_back(static_cast<char>(code));
        } else if (code < 0x800) {
            buffer_.push_back(static_cast<char>(0xC0 | (code >> 6)));
            buffer_.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else if (code < 0x10000) {
            buffer_.push_back(static_cast<char>(0xE0 | (code >> 12)));
            buffer_.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            buffer_.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
            buffer_.push_back(static_cast<char>(0xF0 | (code >> 18)));
            buffer_.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
            buffer_.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            buffer_.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
    }

    PyObject* escaped_string(const char* start) {
        buffer_.assign(start, pos_);
        while (pos_ < end_) {
            const auto c = static_cast<unsigned char>(*pos_);
            if (c == '"') {
                ++pos_;
                return decode(buffer_.data(), buffer_.size());
            }
            if (c < 0x20) return nullptr;
            if (c != '\\') {
                buffer_.push_back(static_cast<char>(c));
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= end_) return nullptr;
            const char kind = *pos_++;
            switch (kind) {
                case '"':
                    buffer_.push_back('"');
                    break;
                case '\\':
                    buffer_.push_back('\\');
                    break;
                case '/':
                    buffer_.push_back('/');
                    break;
                case 'b':
                    buffer_.push_back('\b');
                    break;
                case 'f':
                    buffer_.push_back('\f');
                    break;
                case 'n':
                    buffer_.push_back('\n');
                    break;
                case 'r':
                    buffer_.push_back('\r');
                    break;
                case 't':
                    buffer_.push_back('\t');
                    break;
                case 'u': {
                    std::uint32_t code;
                    if (!read_hex4(code)) return nullptr;
                    if (code >= 0xD800 && code < 0xDC00 && end_ - pos_ >= 6 && pos_[0] == '\\' &&
                        pos_[1] == 'u') {
                        const char* save = pos_;
                        pos_ += 2;
                        std::uint32_t low;
                        if (read_hex4(low) && low >= 0xDC00 && low < 0xE000) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        } else {
                            pos_ = save;  // not a pair: keep the lone high surrogate
                        }
                    }
                    append_utf8(code);
                    break;
                }
                default:
                    return nullptr;
            }
        }
        return nullptr;
    }

    PyObject* number() {
        const char* start = pos_;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') ++pos_;
        } else {
            return nullptr;  // not a number (NaN, Infinity, garbage): json.loads decides
        }
        bool is_float = false;
        if (peek() == '.') {
            is_float = true;
            ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return nullptr;
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            is_float = true;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return nullptr;
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (is_float) {
            double value = 0;
            const auto result = std::from_chars(start, pos_, value);
            if (result.ec != std::errc() || result.ptr != pos_) return nullptr;  // e.g. 1e999
            return PyFloat_FromDouble(value);
        }
        const auto digits = pos_ - start - (*start == '-' ? 1 : 0);
        if (digits <= 18) {
            long long value = 0;
            std::from_chars(start, pos_, value);
            return PyLong_FromLongLong(value);
        }
        const std::string text(start, pos_);  // beyond 64 bits: Python keeps it exact
        return PyLong_FromString(text.c_str(), nullptr, 10);
    }

    const char* pos_;
    const char* end_;
    KeyCache keys_;
    std::vector<PyObject*> items_;  // elements of the arrays being read, innermost last
    std::string buffer_;            // unescaped text of the current string
};

py::object parse_with_json_module(std::string_view text) {
    static PyObject* loads = kept_attribute("json", "loads");
    PyObject* source =
        PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "surrogatepass");
    PyObject* result = source ? PyObject_CallOneArg(loads, source) : nullptr;
    Py_XDECREF(source);
    if (result == nullptr) throw py::error_already_set();  // json.JSONDecodeError, a ValueError
    return py::reinterpret_steal<py::object>(result);
}

}  // namespace

py::object json_to_python(std::string_view text) {
    JsonReader reader(text.data(), text.data() + text.size());
    PyObject* result = reader.document();
    if (result != nullptr) return py::reinterpret_steal<py::object>(result);
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        throw py::error_already_set();
    PyErr_Clear();
    return parse_with_json_module(text);
}

void register_json_reader(py::module_& module) {
    module.def(
        "_loads", [](py::bytes text) { return json_to_python(std::string_view(text)); },
        py::arg("text"), "Decode JSON text as a store would on get (for tests and benchmarks).");
}

}  // namespace asap_native::bindings
