#include "python_values.hpp"

#include <datetime.h>

#include <cstdio>

#include <algorithm>
#include <iterator>

#include "json_convert.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Interned attribute names, created once and kept for the interpreter's life.
PyObject* name(const char* text) {
    PyObject* interned = PyUnicode_InternFromString(text);
    if (interned == nullptr) throw py::error_already_set();
    return interned;
}

py::object get_attribute(py::handle owner, PyObject* attribute, const char* expected) {
    PyObject* value = PyObject_GetAttr(owner.ptr(), attribute);
    if (value == nullptr) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) throw py::error_already_set();
        PyErr_Clear();
        throw py::type_error(std::string("expected ") + expected + " with attribute '" +
                             PyUnicode_AsUTF8(attribute) + "', got " + Py_TYPE(owner.ptr())->tp_name);
    }
    return py::reinterpret_steal<py::object>(value);
}

std::int64_t require_count(py::handle value, const char* what) {
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be an int, not " +
                             Py_TYPE(value.ptr())->tp_name);
    int overflow = 0;
    const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0) throw py::value_error(std::string(what) + " does not fit in 64 bits");
    if (number < 0) throw py::value_error(std::string(what) + " must be >= 0");
    return number;
}

// Rewrites each fraction of a second (after the date) as '.' and exactly 6 digits, truncating
// extra digits as Python does: "10:30:45,5" -> "10:30:45.500000".
std::string six_digit_fractions(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 8);
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        const bool fraction = i > 10 && (c == '.' || c == ',') && i + 1 < text.size() &&
                              text[i + 1] >= '0' && text[i + 1] <= '9';
        if (!fraction) {
            out.push_back(c);
            ++i;
            continue;
        }
        std::size_t end = i + 1;
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
        std::string digits = text.substr(i + 1, std::min<std::size_t>(end - i - 1, 6));
        digits.resize(6, '0');
        out += '.' + digits;
        i = end;
    }
    return out;
}

}  // namespace

std::string any_text(py::handle value, const char* what) {
    if (!PyUnicode_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be a str, not " +
                             Py_TYPE(value.ptr())->tp_name);
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (text == nullptr) {
        PyErr_Clear();
        throw py::value_error(std::string(what) + " is not valid Unicode");
    }
    return std::string(text, static_cast<std::size_t>(size));
}

std::string require_text(py::handle value, const char* what) {
    std::string text = any_text(value, what);
    if (text.empty()) throw py::value_error(std::string(what) + " must be a non-empty string");
    return text;
}

std::optional<std::int64_t> optional_version(py::handle value, const char* what) {
    if (value.is_none()) return std::nullopt;
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw py::type_error(std::string(what) + " must be an int or None, not " +
                             Py_TYPE(value.ptr())->tp_name);
    int overflow = 0;
    const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0) throw py::value_error(std::string(what) + " does not fit in 64 bits");
    if (number < 1)
        throw py::value_error(std::string(what) + " must be >= 1, got " + std::to_string(number));
    return number;
}

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
        for (int i = width - 1; i >= 0; --i, number /= 10) end[i] = static_cast<char>('0' + number % 10);
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

std::string timestamp_text(py::handle value, const char* what) {
    static PyObject* isoformat = name("isoformat");
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
            throw py::type_error(std::string(what) + " must be a datetime or an ISO-8601 str, not " +
                                 Py_TYPE(value.ptr())->tp_name);
        }
        text = require_text(py::reinterpret_steal<py::object>(method_result), what);
    }
    if (!parse_iso8601(text))
        throw py::value_error(std::string(what) + " is not an ISO-8601 date and time: '" +
                              text.substr(0, 64) + "'");
    return text;
}

InstantMicros instant_of(py::handle value, const char* what) {
    return *parse_iso8601(timestamp_text(value, what));
}

py::object datetime_from_text(const std::string& text) {
    static PyObject* from_iso =
        py::object(py::module_::import("datetime").attr("datetime").attr("fromisoformat"))
            .release()
            .ptr();
    std::string normalized = text;
    if (!normalized.empty() && (normalized.back() == 'Z' || normalized.back() == 'z'))
        normalized.replace(normalized.size() - 1, 1, "+00:00");  // Python 3.10 rejects 'Z'
    py::str argument(normalized);
    PyObject* result = PyObject_CallOneArg(from_iso, argument.ptr());
    if (result == nullptr) {
        // Python 3.10 reads only '.' and exactly 3 or 6 fraction digits, while the parser that
        // accepted this text on save takes any: retry with every fraction as '.' + 6 digits.
        const std::string fractions = six_digit_fractions(normalized);
        if (fractions == normalized) throw py::error_already_set();
        py::error_already_set first_error;
        py::str retry(fractions);
        result = PyObject_CallOneArg(from_iso, retry.ptr());
        if (result == nullptr) {
            PyErr_Clear();  // report the error about the text as stored
            throw first_error;
        }
    }
    return py::reinterpret_steal<py::object>(result);
}

Snapshot snapshot_from_python(py::handle obj) {
    static PyObject* task_id = name("task_id");
    static PyObject* id = name("id");
    static PyObject* version = name("version");
    static PyObject* data = name("data");
    static PyObject* checkpoint = name("checkpoint");
    static PyObject* created_at = name("created_at");
    constexpr const char* kExpected = "a StateSnapshot";

    Snapshot snapshot;
    snapshot.task_id = require_text(get_attribute(obj, task_id, kExpected), "snapshot.task_id");
    snapshot.id = require_text(get_attribute(obj, id, kExpected), "snapshot.id");
    py::object version_value = get_attribute(obj, version, kExpected);
    if (version_value.is_none()) throw py::type_error("snapshot.version must be an int, not None");
    snapshot.version = *optional_version(version_value, "snapshot.version");
    py::object data_value = get_attribute(obj, data, kExpected);
    if (!PyDict_Check(data_value.ptr()))
        throw py::type_error(std::string("snapshot.data must be a dict, not ") +
                             Py_TYPE(data_value.ptr())->tp_name);
    snapshot.data_json = python_to_json(data_value, "data");
    PyObject* checkpoint_value = PyObject_GetAttr(obj.ptr(), checkpoint);
    if (checkpoint_value == nullptr) {
        PyErr_Clear();  // optional, as in StateSnapshot
    } else {
        const int truth = PyObject_IsTrue(checkpoint_value);
        Py_DECREF(checkpoint_value);
        if (truth < 0) throw py::error_already_set();
        snapshot.checkpoint = truth == 1;
    }
    snapshot.created_at =
        timestamp_text(get_attribute(obj, created_at, kExpected), "snapshot.created_at");
    return snapshot;
}

UsageEvent usage_event_from_python(py::handle obj) {
    static PyObject* task_id = name("task_id");
    static PyObject* agent_id = name("agent_id");
    static PyObject* consumer_id = name("consumer_id");
    static PyObject* metrics = name("metrics");
    static PyObject* timestamp = name("timestamp");
    static PyObject* counters[] = {name("tokens_in"), name("tokens_out"), name("duration_ms"),
                                   name("api_calls")};
    constexpr const char* kExpected = "a UsageEvent";

    UsageEvent event;
    event.task_id = require_text(get_attribute(obj, task_id, kExpected), "event.task_id");
    event.agent_id = require_text(get_attribute(obj, agent_id, kExpected), "event.agent_id");
    event.consumer_id =
        require_text(get_attribute(obj, consumer_id, kExpected), "event.consumer_id");
    py::object metrics_value = get_attribute(obj, metrics, kExpected);
    if (!PyDict_Check(metrics_value.ptr()) &&
        std::none_of(std::begin(counters), std::end(counters), [&](PyObject* counter) {
            return PyObject_HasAttr(metrics_value.ptr(), counter) == 1;
        }))  // None, a number, a str...: not silently recorded as all-zero counters
        throw py::type_error(std::string("event.metrics must be a UsageMetrics or a dict, not ") +
                             Py_TYPE(metrics_value.ptr())->tp_name);
    std::int64_t values[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; ++i) {
        PyObject* counter = PyDict_Check(metrics_value.ptr())
                                ? PyDict_GetItemWithError(metrics_value.ptr(), counters[i])
                                : PyObject_GetAttr(metrics_value.ptr(), counters[i]);
        if (counter == nullptr) {
            if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_AttributeError))
                throw py::error_already_set();
            PyErr_Clear();
            continue;  // missing counters default to 0, as in UsageMetrics
        }
        py::object held = PyDict_Check(metrics_value.ptr())
                              ? py::reinterpret_borrow<py::object>(counter)
                              : py::reinterpret_steal<py::object>(counter);
        const std::string what = std::string("event.metrics.") + PyUnicode_AsUTF8(counters[i]);
        values[i] = require_count(held, what.c_str());
    }
    event.metrics = UsageMetrics{values[0], values[1], values[2], values[3]};
    event.timestamp = timestamp_text(get_attribute(obj, timestamp, kExpected), "event.timestamp");
    return event;
}

}  // namespace asap_native::bindings
