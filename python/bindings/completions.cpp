#include "completions.hpp"

#include "errors.hpp"
#include "json_convert.hpp"
#include "python_values.hpp"

namespace py = pybind11;

namespace asap_native::bindings {

py::object snapshot_to_python(const Snapshot& snapshot, const py::object& factory) {
    py::dict fields;  // in the model's field order
    fields["id"] = py::str(snapshot.id);
    fields["task_id"] = py::str(snapshot.task_id);
    fields["version"] = py::int_(snapshot.version);
    fields["data"] = json_to_python(snapshot.data_json);
    fields["checkpoint"] = py::bool_(snapshot.checkpoint);
    fields["created_at"] = datetime_from_text(snapshot.created_at);
    PyObject* result = PyObject_CallOneArg(factory.ptr(), fields.ptr());
    if (result == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(result);
}

py::tuple event_to_tuple(const UsageEvent& event) {
    const UsageMetrics& m = event.metrics;
    return py::make_tuple(event.task_id, event.agent_id, event.consumer_id,
                          py::make_tuple(m.tokens_in, m.tokens_out, m.duration_ms, m.api_calls),
                          datetime_from_text(event.timestamp));
}

py::tuple aggregate_to_tuple(const UsageAggregate& total) {
    return py::make_tuple(total.agent_id, total.period, total.total_tokens, total.total_duration,
                          total.total_tasks, total.total_api_calls);
}

PyCompletionQueue::PyCompletionQueue(py::object snapshot_factory, py::object event_factory,
                                     py::object aggregate_factory)
    : queue_(std::make_shared<NativeCompletionQueue>()),
      snapshot_factory_(std::move(snapshot_factory)),
      event_factory_(std::move(event_factory)),
      aggregate_factory_(std::move(aggregate_factory)) {}

py::object PyCompletionQueue::to_python(Completion& completion) {
    struct Convert {
        PyCompletionQueue& self;
        py::object operator()(std::monostate) const { return py::none(); }
        py::object operator()(bool value) const { return py::bool_(value); }
        py::object operator()(const std::vector<std::int64_t>& versions) const {
            py::list out(versions.size());
            for (std::size_t i = 0; i < versions.size(); ++i) out[i] = py::int_(versions[i]);
            return std::move(out);
        }
        py::object operator()(const std::optional<Snapshot>& snapshot) const {
            if (!snapshot) return py::none();
            return snapshot_to_python(*snapshot, self.snapshot_factory_);
        }
        py::object operator()(const std::vector<UsageEvent>& events) const {
            py::list out(events.size());
            for (std::size_t i = 0; i < events.size(); ++i)
                out[i] = self.event_factory_(event_to_tuple(events[i]));
            return std::move(out);
        }
        py::object operator()(const UsageAggregate& total) const {
            return self.aggregate_factory_(aggregate_to_tuple(total));
        }
    };
    return std::visit(Convert{*this}, completion.value);
}

py::list PyCompletionQueue::drain(std::size_t max_items) {
    std::vector<Completion> done = queue_->drain(max_items);
    py::list out(done.size());
    for (std::size_t i = 0; i < done.size(); ++i) {
        Completion& completion = done[i];
        if (completion.error) {
            out[i] = py::make_tuple(completion.id, false, python_exception(completion.error));
            continue;
        }
        try {
            out[i] = py::make_tuple(completion.id, true, to_python(completion));
        } catch (py::error_already_set& error) {
            // A row that cannot become a model fails its own request, not the whole batch.
            out[i] = py::make_tuple(completion.id, false, error.value());
        }
    }
    return out;
}

py::dict PyCompletionQueue::stats() const {
    const CompletionQueueStats figures = queue_->stats();
    py::dict out;
    out["pushed"] = figures.pushed;
    out["wakeups"] = figures.wakeups;
    out["drains"] = figures.drains;
    return out;
}

void register_completions(py::module_& m) {
    py::class_<PyCompletionQueue>(m, "CompletionQueue",
                                  "Results of queued store calls, for one event loop.")
        .def(py::init<py::object, py::object, py::object>(), py::arg("snapshot_factory"),
             py::arg("event_factory"), py::arg("aggregate_factory"))
        .def("fileno", &PyCompletionQueue::fileno)
        .def("drain", &PyCompletionQueue::drain, py::arg("max_items") = SIZE_MAX)
        .def("stats", &PyCompletionQueue::stats);
}

}  // namespace asap_native::bindings
