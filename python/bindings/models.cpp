#include "models.hpp"

#include <datetime.h>

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include "arguments.hpp"
#include "errors.hpp"
#include "json_reader.hpp"
#include "json_writer.hpp"
#include "model_builder.hpp"
#include "python_classes.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

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

// The datetime of the one form nearly every stored timestamp has, as fromisoformat() builds it,
// without its call: 'YYYY-MM-DD' 'T' or ' ' 'HH:MM:SS', then no fraction or one of 3 or 6
// digits, then nothing, 'Z', 'z' or '+HH:MM' / '-HH:MM'. Null (no error set) for anything
// else, which fromisoformat() then reads.
PyObject* datetime_of_common_form(const std::string& text) {
    static const bool imported = [] {
        PyDateTime_IMPORT;
        if (PyDateTimeAPI == nullptr) PyErr_Clear();
        return PyDateTimeAPI != nullptr;
    }();
    if (!imported) return nullptr;
    const char* s = text.data();
    const std::size_t n = text.size();
    auto number = [&](std::size_t at, std::size_t width, int& out) {
        if (at + width > n) return false;
        out = 0;
        for (std::size_t i = at; i < at + width; ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            out = out * 10 + (s[i] - '0');
        }
        return true;
    };
    int year, month, day, hour, minute, second, micros = 0;
    if (n < 19 || !number(0, 4, year) || s[4] != '-' || !number(5, 2, month) || s[7] != '-' ||
        !number(8, 2, day) || (s[10] != 'T' && s[10] != ' ') || !number(11, 2, hour) ||
        s[13] != ':' || !number(14, 2, minute) || s[16] != ':' || !number(17, 2, second))
        return nullptr;
    std::size_t at = 19;
    if (at < n && s[at] == '.') {
        std::size_t end = at + 1;
        while (end < n && s[end] >= '0' && s[end] <= '9') ++end;
        const std::size_t digits = end - at - 1;
        if ((digits != 3 && digits != 6) || !number(at + 1, digits, micros)) return nullptr;
        if (digits == 3) micros *= 1000;
        at = end;
    }
    PyObject* zone = Py_None;
    if (at == n) {
        zone = Py_None;
    } else if (at + 1 == n && (s[at] == 'Z' || s[at] == 'z')) {
        zone = PyDateTime_TimeZone_UTC;
    } else if (at + 6 == n && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
        int offset_hours, offset_minutes;
        if (!number(at + 1, 2, offset_hours) || !number(at + 4, 2, offset_minutes) ||
            offset_hours > 23 || offset_minutes > 59)
            return nullptr;
        const int offset = (s[at] == '-' ? -1 : 1) * (offset_hours * 60 + offset_minutes);
        if (offset == 0) {
            zone = PyDateTime_TimeZone_UTC;
        } else {
            // timezone objects of the offsets met so far (a handful), kept for the process.
            static std::unordered_map<int, PyObject*> zones;
            auto found = zones.find(offset);
            if (found != zones.end()) {
                zone = found->second;
            } else {
                if (zones.size() >= 256) return nullptr;  // many offsets: fromisoformat
                PyObject* delta = PyDelta_FromDSU(0, offset * 60, 0);
                zone = delta == nullptr ? nullptr : PyTimeZone_FromOffset(delta);
                Py_XDECREF(delta);
                if (zone == nullptr) {
                    PyErr_Clear();
                    return nullptr;
                }
                zones.emplace(offset, zone);  // the map keeps the reference
            }
        }
    } else {
        return nullptr;
    }
    if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
        return nullptr;
    // Day-of-month and year range: the constructor raises; let fromisoformat say why.
    PyObject* result = PyDateTimeAPI->DateTime_FromDateAndTime(
        year, month, day, hour, minute, second, micros, zone, PyDateTimeAPI->DateTimeType);
    if (result == nullptr) PyErr_Clear();
    return result;
}

// A str attribute of a model object and the member it is read into.
template <typename Model>
struct TextAttribute {
    std::string Model::*member;
    PyObject* name;     // interned once
    const char* where;  // named in errors: "snapshot.task_id"
};

// Reads the str attributes in table order: errors name the first bad one.
template <typename Model, std::size_t N>
void read_text_attributes(py::handle obj, const char* expected,
                          const TextAttribute<Model> (&attributes)[N], Model& model) {
    for (const TextAttribute<Model>& attribute : attributes)
        model.*attribute.member =
            any_text(required_attribute(obj, attribute.name, expected), attribute.where);
}

std::string describe(const Snapshot& snapshot) {
    return "snapshot of task '" + snapshot.task_id + "' version " +
           std::to_string(snapshot.version);
}

}  // namespace

Snapshot snapshot_from_python(py::handle obj) {
    static const TextAttribute<Snapshot> texts[] = {
        {&Snapshot::task_id, interned("task_id"), "snapshot.task_id"},
        {&Snapshot::id, interned("id"), "snapshot.id"},
    };
    static PyObject* version = interned("version");
    static PyObject* data = interned("data");
    static PyObject* checkpoint = interned("checkpoint");
    static PyObject* created_at = interned("created_at");
    constexpr const char* kExpected = "a StateSnapshot";

    Snapshot snapshot;
    read_text_attributes(obj, kExpected, texts, snapshot);
    snapshot.version =
        int64_argument(required_attribute(obj, version, kExpected), "snapshot.version");
    py::object data_value = required_attribute(obj, data, kExpected);
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
        timestamp_text(required_attribute(obj, created_at, kExpected), "snapshot.created_at");
    return snapshot;
}

UsageEvent usage_event_from_python(py::handle obj) {
    static const TextAttribute<UsageEvent> texts[] = {
        {&UsageEvent::task_id, interned("task_id"), "event.task_id"},
        {&UsageEvent::agent_id, interned("agent_id"), "event.agent_id"},
        {&UsageEvent::consumer_id, interned("consumer_id"), "event.consumer_id"},
    };
    static PyObject* metrics = interned("metrics");
    static PyObject* timestamp = interned("timestamp");
    static PyObject* counters[] = {interned("tokens_in"), interned("tokens_out"),
                                   interned("duration_ms"), interned("api_calls")};
    constexpr const char* kExpected = "a UsageEvent";

    UsageEvent event;
    read_text_attributes(obj, kExpected, texts, event);
    py::object metrics_value = required_attribute(obj, metrics, kExpected);
    const bool is_dict = PyDict_Check(metrics_value.ptr());
    if (!is_dict && std::none_of(std::begin(counters), std::end(counters), [&](PyObject* counter) {
            return PyObject_HasAttr(metrics_value.ptr(), counter) == 1;
        }))  // None, a number, a str...: not silently recorded as all-zero counters
        throw py::type_error(std::string("event.metrics must be a UsageMetrics or a dict, not ") +
                             Py_TYPE(metrics_value.ptr())->tp_name);
    UsageCount* slots[] = {&event.metrics.tokens_in, &event.metrics.tokens_out,
                           &event.metrics.duration_ms, &event.metrics.api_calls};
    for (int i = 0; i < 4; ++i) {
        PyObject* counter = is_dict ? PyDict_GetItemWithError(metrics_value.ptr(), counters[i])
                                    : PyObject_GetAttr(metrics_value.ptr(), counters[i]);
        if (counter == nullptr) {
            if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_AttributeError))
                throw py::error_already_set();
            PyErr_Clear();
            continue;  // missing counters default to 0, as in UsageMetrics
        }
        py::object held = is_dict ? py::reinterpret_borrow<py::object>(counter)
                                  : py::reinterpret_steal<py::object>(counter);
        const std::string what = std::string("event.metrics.") + PyUnicode_AsUTF8(counters[i]);
        *slots[i] = count_argument(held, what.c_str());
    }
    event.timestamp =
        timestamp_text(required_attribute(obj, timestamp, kExpected), "event.timestamp");
    return event;
}

py::object datetime_from_text(const std::string& text) {
    if (PyObject* fast = datetime_of_common_form(text))
        return py::reinterpret_steal<py::object>(fast);
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

py::object count_to_python(UsageCount count) {
    if (count >= INT64_MIN && count <= INT64_MAX)
        return py::reinterpret_steal<py::object>(
            PyLong_FromLongLong(static_cast<long long>(count)));
    const std::string digits = usage_count_text(count);
    PyObject* number = PyLong_FromString(digits.c_str(), nullptr, 10);
    if (number == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(number);
}

py::object to_python(const Nothing&) { return py::none(); }

py::object to_python(bool value) { return py::bool_(value); }

py::object to_python(const std::vector<std::int64_t>& versions) {
    py::list out(versions.size());
    for (std::size_t i = 0; i < versions.size(); ++i) out[i] = py::int_(versions[i]);
    return std::move(out);
}

py::object to_python(const Snapshot& snapshot) {
    py::dict fields;  // in the model's field order
    fields["id"] = py::str(snapshot.id);
    fields["task_id"] = py::str(snapshot.task_id);
    fields["version"] = py::int_(snapshot.version);
    py::object data;
    try {
        data = json_to_python(snapshot.data_json);
    } catch (...) {
        raise_stored_data_error(describe(snapshot) + " cannot be read: its data is not valid JSON",
                                std::current_exception());
    }
    if (!PyDict_Check(data.ptr()))
        raise_stored_data_error(describe(snapshot) + " cannot be read: its data is a JSON " +
                                (PyList_Check(data.ptr()) ? "array" : "scalar") +
                                ", not an object");
    fields["data"] = std::move(data);
    fields["checkpoint"] = py::bool_(snapshot.checkpoint);
    try {
        fields["created_at"] = datetime_from_text(snapshot.created_at);
    } catch (...) {
        raise_stored_data_error(describe(snapshot) + " cannot be read: created_at '" +
                                    snapshot.created_at.substr(0, 64) + "' is not ISO-8601",
                                std::current_exception());
    }
    PyObject* result = PyObject_CallOneArg(model_factories().snapshot.ptr(), fields.ptr());
    if (result == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(result);
}

py::object to_python(const std::optional<Snapshot>& snapshot) {
    if (!snapshot) return py::none();
    return to_python(*snapshot);
}

py::object to_python(const UsageEvent& event) {
    const UsageMetrics& m = event.metrics;
    py::object timestamp;
    try {
        timestamp = datetime_from_text(event.timestamp);
    } catch (...) {
        raise_stored_data_error("usage event of agent '" + event.agent_id + "' cannot be read: '" +
                                    event.timestamp.substr(0, 64) + "' is not ISO-8601",
                                std::current_exception());
    }
    if (const UsageEventBuilder* builder = usage_event_builder())
        return builder->build(event, timestamp);
    py::tuple row =
        py::make_tuple(event.task_id, event.agent_id, event.consumer_id,
                       py::make_tuple(count_to_python(m.tokens_in), count_to_python(m.tokens_out),
                                      count_to_python(m.duration_ms), count_to_python(m.api_calls)),
                       std::move(timestamp));
    return model_factories().event(std::move(row));
}

py::object to_python(const std::vector<UsageEvent>& events) {
    py::list out(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) out[i] = to_python(events[i]);
    return std::move(out);
}

py::object to_python(const UsageAggregate& total) {
    return model_factories().aggregate(
        py::make_tuple(total.agent_id, total.period, count_to_python(total.total_tokens),
                       count_to_python(total.total_duration), py::int_(total.total_tasks),
                       count_to_python(total.total_api_calls)));
}

}  // namespace asap_native::bindings
