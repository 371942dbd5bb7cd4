#include "completions.hpp"

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif

#include "errors.hpp"
#include "fault_injection.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

py::tuple failed_entry(const py::object& id, std::exception_ptr error) {
    check_fault(FaultPoint::ErrorObject);
    return py::make_tuple(id, false, python_exception(std::move(error)));
}

}  // namespace

py::tuple PyCompletion::to_entry() const {
    py::object id_object = py::int_(id());
    if (error) return failed_entry(id_object, error);
    try {
        check_fault(FaultPoint::Convert);
        return py::make_tuple(id_object, true, result());
#ifdef __GLIBCXX__
    } catch (abi::__forced_unwind&) {
        throw;  // a thread ended by the interpreter's shutdown must unwind, not report
#endif
    } catch (...) {
        return failed_entry(id_object, std::current_exception());
    }
}

LoopQueue::LoopQueue() : queue_(std::make_shared<CompletionQueue>()) {}

py::list LoopQueue::drain(std::size_t max_items) {
    py::list out(0);  // allocated before anything is taken: if this fails, nothing was
    CompletionQueue::Batch batch = queue_->drain(max_items);
    try {
        check_fault(FaultPoint::Drain);
        while (const Completion* front = batch.front()) {
            out.append(static_cast<const PyCompletion*>(front)->to_entry());
            batch.pop_front();  // handed over
        }
    } catch (...) {
        queue_->push_front(std::move(batch));
        throw;
    }
    return out;
}

py::dict LoopQueue::stats() const {
    const CompletionQueueStats figures = queue_->stats();
    py::dict out;
    out["pushed"] = figures.pushed;
    out["wakeups"] = figures.wakeups;
    out["drains"] = figures.drains;
    out["waiting"] = queue_->size();
    return out;
}

void register_completions(py::module_& m) {
    py::class_<LoopQueue>(m, "CompletionQueue", "Finished store calls, for one event loop.")
        .def(py::init<>())
        .def("fileno", &LoopQueue::fileno)
        .def("drain", &LoopQueue::drain, py::arg("max_items") = SIZE_MAX)
        .def("stats", &LoopQueue::stats);
}

}  // namespace asap_native::bindings
