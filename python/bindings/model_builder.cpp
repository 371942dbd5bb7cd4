#include "model_builder.hpp"

#include <optional>

#include "models.hpp"
#include "python_classes.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

const char* const kEventFields[] = {"task_id", "agent_id", "consumer_id", "metrics", "timestamp"};
const char* const kMetricsFields[] = {"tokens_in", "tokens_out", "duration_ms", "api_calls"};

void set_slot(PyObject* instance, const char* name, PyObject* value) {
    static PyObject* dict_name = PyUnicode_InternFromString("__dict__");
    PyObject* key = dict_name;
    py::object owned;
    if (std::string_view(name) != "__dict__") {
        owned = py::reinterpret_steal<py::object>(PyUnicode_InternFromString(name));
        if (!owned) throw py::error_already_set();
        key = owned.ptr();
    }
    // object.__setattr__: the class's own __setattr__ (frozen models refuse) is bypassed.
    if (PyObject_GenericSetAttr(instance, key, value) < 0) throw py::error_already_set();
}

}  // namespace

DirectLayout::DirectLayout(py::handle cls, const std::vector<std::string>& fields, bool pydantic)
    : cls_(py::reinterpret_borrow<py::object>(cls)), pydantic_(pydantic) {
    if (!PyType_Check(cls.ptr())) throw py::type_error("a model class is needed");
    py::list names;
    for (const std::string& field : fields) {
        py::object name =
            py::reinterpret_steal<py::object>(PyUnicode_InternFromString(field.c_str()));
        if (!name) throw py::error_already_set();
        names.append(name);
        names_.push_back(std::move(name));
    }
    fields_set_ = py::reinterpret_steal<py::object>(PyFrozenSet_New(names.ptr()));
    if (!fields_set_) throw py::error_already_set();
}

py::object DirectLayout::build(PyObject* const* values) const {
    static PyObject* empty = PyTuple_New(0);
    static PyObject* fields_set_name = PyUnicode_InternFromString("__pydantic_fields_set__");
    static PyObject* extra_name = PyUnicode_InternFromString("__pydantic_extra__");
    static PyObject* private_name = PyUnicode_InternFromString("__pydantic_private__");
    auto* type = reinterpret_cast<PyTypeObject*>(cls_.ptr());
    py::object instance =
        py::reinterpret_steal<py::object>(PyBaseObject_Type.tp_new(type, empty, nullptr));
    if (!instance) throw py::error_already_set();
    py::object fields = py::reinterpret_steal<py::object>(PyDict_New());
    if (!fields) throw py::error_already_set();
    for (std::size_t i = 0; i < names_.size(); ++i)
        if (PyDict_SetItem(fields.ptr(), names_[i].ptr(), values[i]) < 0)
            throw py::error_already_set();
    set_slot(instance.ptr(), "__dict__", fields.ptr());
    if (pydantic_) {
        py::object fields_set = py::reinterpret_steal<py::object>(PySet_New(fields_set_.ptr()));
        if (!fields_set) throw py::error_already_set();
        if (PyObject_GenericSetAttr(instance.ptr(), fields_set_name, fields_set.ptr()) < 0 ||
            PyObject_GenericSetAttr(instance.ptr(), extra_name, Py_None) < 0 ||
            PyObject_GenericSetAttr(instance.ptr(), private_name, Py_None) < 0)
            throw py::error_already_set();
    }
    return instance;
}

UsageEventBuilder::UsageEventBuilder(py::handle event_cls, py::handle metrics_cls, bool pydantic)
    : event_(event_cls, {std::begin(kEventFields), std::end(kEventFields)}, pydantic),
      metrics_(metrics_cls, {std::begin(kMetricsFields), std::end(kMetricsFields)}, pydantic) {}

py::object UsageEventBuilder::assemble(py::handle task_id, py::handle agent_id,
                                       py::handle consumer_id, PyObject* const* counters,
                                       py::handle timestamp) const {
    py::object metrics = metrics_.build(counters);
    PyObject* values[] = {task_id.ptr(), agent_id.ptr(), consumer_id.ptr(), metrics.ptr(),
                          timestamp.ptr()};
    return event_.build(values);
}

py::object UsageEventBuilder::build(const UsageEvent& event, py::handle timestamp) const {
    const UsageMetrics& m = event.metrics;
    py::object counters[] = {count_to_python(m.tokens_in), count_to_python(m.tokens_out),
                             count_to_python(m.duration_ms), count_to_python(m.api_calls)};
    PyObject* counter_values[] = {counters[0].ptr(), counters[1].ptr(), counters[2].ptr(),
                                  counters[3].ptr()};
    return assemble(py::str(event.task_id), py::str(event.agent_id), py::str(event.consumer_id),
                    counter_values, timestamp);
}

py::object UsageEventBuilder::call(py::tuple row) const {
    if (row.size() != 5) throw py::type_error("a usage event row has 5 items");
    py::tuple counters = row[3];
    if (counters.size() != 4) throw py::type_error("a usage event row has 4 counters");
    PyObject* counter_values[] = {counters[0].ptr(), counters[1].ptr(), counters[2].ptr(),
                                  counters[3].ptr()};
    return assemble(row[0], row[1], row[2], counter_values, row[4]);
}

const UsageEventBuilder* usage_event_builder() {
    static std::optional<const UsageEventBuilder*> cached;  // read and set with the GIL held
    if (!cached) {
        py::handle factory = model_factories().event;
        cached = py::isinstance<UsageEventBuilder>(factory)
                     ? &factory.cast<const UsageEventBuilder&>()
                     : nullptr;
    }
    return *cached;
}

void register_model_builders(py::module_& module) {
    py::class_<UsageEventBuilder>(
        module, "UsageEventBuilder",
        "Builds usage event models (and their metrics) straight from stored rows.")
        .def(py::init<py::handle, py::handle, bool>(), py::arg("event_cls"), py::arg("metrics_cls"),
             py::arg("pydantic"))
        .def("__call__", &UsageEventBuilder::call, py::arg("row"));
    module.def(
        "_datetime_from_text", [](const std::string& text) { return datetime_from_text(text); },
        py::arg("text"), "A stored timestamp as the stores read it (for tests).");
}

}  // namespace asap_native::bindings
