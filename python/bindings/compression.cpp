#include "compression.hpp"

#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <optional>
#include <string>

#include "asap_native/codec/decompressor.hpp"
#include "asap_native/codec/encoding.hpp"
#include "asap_native/codec/errors.hpp"
#include "asap_native/codec/one_shot.hpp"
#include "asap_native/codec/output_buffer.hpp"
#include "gil.hpp"
#include "python_classes.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

using codec::Decompressor;
using codec::Encoding;

// Below these sizes the work takes microseconds, less than a GIL hand-over can cost a
// multi-threaded program, so it runs with the GIL held.
constexpr std::size_t kReleaseInputBytes = 8 * 1024;
constexpr std::size_t kReleaseOutputBytes = 64 * 1024;

/// A read-only view of any bytes-like argument, pinned for as long as the view lives.
class InputView {
public:
    explicit InputView(py::handle object) {
        if (PyBytes_Check(object.ptr())) {
            data_ = reinterpret_cast<const std::uint8_t*>(PyBytes_AS_STRING(object.ptr()));
            size_ = static_cast<std::size_t>(PyBytes_GET_SIZE(object.ptr()));
            return;
        }
        if (PyObject_GetBuffer(object.ptr(), &buffer_, PyBUF_C_CONTIGUOUS) != 0) {
            PyErr_Clear();
            throw py::type_error(std::string("a bytes-like object is required, not '") +
                                 Py_TYPE(object.ptr())->tp_name + "'");
        }
        has_buffer_ = true;
        data_ = static_cast<const std::uint8_t*>(buffer_.buf);
        size_ = static_cast<std::size_t>(buffer_.len);
    }
    ~InputView() {
        if (has_buffer_) PyBuffer_Release(&buffer_);
    }
    InputView(const InputView&) = delete;
    InputView& operator=(const InputView&) = delete;

    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    Py_buffer buffer_{};
    bool has_buffer_ = false;
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

/// Decoded bytes go straight into the bytes object returned to Python: no copy at the end.
/// Resizing needs the GIL, so it is taken for the resize and let go again once the output is
/// big enough for the remaining work to matter.
class BytesOutput final : public codec::OutputBuffer {
public:
    explicit BytesOutput(GilRelease& gil) : gil_(gil) {}
    ~BytesOutput() override {
        if (bytes_ != nullptr) {
            gil_.reacquire();
            Py_DECREF(bytes_);
        }
    }
    BytesOutput(const BytesOutput&) = delete;
    BytesOutput& operator=(const BytesOutput&) = delete;

    std::size_t size() const override { return size_; }

    std::uint8_t* resize(std::size_t size) override {
        bool was_released = gil_.released();
        gil_.reacquire();
        auto length = static_cast<Py_ssize_t>(size);
        int failed = 0;
        if (bytes_ == nullptr) {
            bytes_ = PyBytes_FromStringAndSize(nullptr, length);
            failed = bytes_ == nullptr ? -1 : 0;
        } else {
            failed = _PyBytes_Resize(&bytes_, length);  // frees bytes_ and sets it null on failure
        }
        if (failed != 0) {
            PyErr_Clear();
            throw std::bad_alloc();
        }
        size_ = size;
        if (was_released || size >= kReleaseOutputBytes) gil_.release();
        return reinterpret_cast<std::uint8_t*>(PyBytes_AS_STRING(bytes_));
    }

    /// The finished bytes object (needs the GIL, which it takes back).
    py::bytes take() {
        gil_.reacquire();
        if (bytes_ == nullptr) return py::bytes("", 0);
        PyObject* result = bytes_;
        bytes_ = nullptr;
        return py::reinterpret_steal<py::bytes>(result);
    }

private:
    GilRelease& gil_;
    PyObject* bytes_ = nullptr;
    std::size_t size_ = 0;
};

std::size_t limit_from(std::optional<std::size_t> max_output) {
    return max_output.value_or(Decompressor::kNoLimit);
}

py::bytes decode(py::handle data, Encoding encoding, std::optional<std::size_t> max_output) {
    InputView input(data);
    Decompressor decompressor(encoding, limit_from(max_output));
    GilRelease gil(GilRelease::Start::Held);
    BytesOutput out(gil);
    if (input.size() >= kReleaseInputBytes) gil.release();
    decompressor.feed(input.data(), input.size(), out,
                      codec::decompressed_size_hint(input.data(), input.size(), encoding));
    decompressor.finish();
    return out.take();
}

py::bytes decompress(py::handle data, const std::string& encoding_name,
                     std::optional<std::size_t> max_output) {
    return decode(data, codec::parse_encoding(encoding_name), max_output);
}

// Outcomes of decompress_payload() calls, for compression.stats(); atomics, so counting
// costs nothing next to the work and needs no lock.
struct PayloadCounters {
    std::atomic<std::uint64_t> passed{0}, corrupt{0}, too_large{0}, unsupported{0};
    std::atomic<std::uint64_t> bytes_in{0}, bytes_out{0};
};

PayloadCounters& payload_counters() {
    static PayloadCounters* counters = new PayloadCounters();  // leaked: outlives statics
    return *counters;
}

py::object decompress_payload_uncounted(py::object data, const std::string& encoding_name,
                                        std::optional<std::size_t> max_output);

// asap-protocol's decompress_payload in one call (its per-call cost matters for small
// bodies): identity hands back the very object it was given, as asap's does.
py::object decompress_payload(py::object data, const std::string& encoding_name,
                              std::optional<std::size_t> max_output) {
    PayloadCounters& counters = payload_counters();
    const Py_ssize_t size_in = PyObject_Length(data.ptr());
    if (size_in < 0) PyErr_Clear();  // not sized: the decoder reports the real problem
    counters.bytes_in += static_cast<std::uint64_t>(size_in > 0 ? size_in : 0);
    try {
        py::object result =
            decompress_payload_uncounted(std::move(data), encoding_name, max_output);
        const Py_ssize_t size_out = PyObject_Length(result.ptr());
        if (size_out < 0) PyErr_Clear();
        counters.bytes_out += static_cast<std::uint64_t>(size_out > 0 ? size_out : 0);
        ++counters.passed;
        return result;
    } catch (const codec::DecompressionLimitExceeded&) {
        ++counters.too_large;
        throw;
    } catch (const codec::CorruptData&) {
        ++counters.corrupt;
        throw;
    } catch (const codec::UnsupportedEncoding&) {
        ++counters.unsupported;
        throw;
    }
}

py::dict payload_stats() {
    const PayloadCounters& counters = payload_counters();
    py::dict requests;
    requests["passed"] = counters.passed.load();
    requests["400"] = counters.corrupt.load();
    requests["413"] = counters.too_large.load();
    requests["415"] = counters.unsupported.load();
    py::dict out;
    out["requests"] = requests;
    out["bytes_in"] = counters.bytes_in.load();
    out["bytes_out"] = counters.bytes_out.load();
    return out;
}

py::object decompress_payload_uncounted(py::object data, const std::string& encoding_name,
                                        std::optional<std::size_t> max_output) {
    Encoding encoding = codec::parse_encoding(encoding_name);
    if (encoding != Encoding::Identity) return decode(data, encoding, max_output);
    if (max_output) {
        InputView input(data);
        if (input.size() > *max_output) {
            throw codec::DecompressionLimitExceeded("decompressed data exceeds the maximum of " +
                                                        std::to_string(*max_output) + " bytes",
                                                    *max_output);
        }
    }
    return data;
}

py::bytes compress(py::handle data, const std::string& encoding_name, int level) {
    Encoding encoding = codec::parse_encoding(encoding_name);
    InputView input(data);
    std::size_t bound = codec::compress_bound(input.size(), encoding);
    PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(bound));
    if (raw == nullptr) throw py::error_already_set();
    py::object out = py::reinterpret_steal<py::object>(raw);
    std::size_t size = 0;
    {
        GilRelease gil(GilRelease::Start::Held);
        if (input.size() >= kReleaseInputBytes) gil.release();
        size = codec::compress_into(input.data(), input.size(), encoding, level,
                                    reinterpret_cast<std::uint8_t*>(PyBytes_AS_STRING(raw)), bound);
    }
    PyObject* result = out.release().ptr();
    if (_PyBytes_Resize(&result, static_cast<Py_ssize_t>(size)) != 0) {
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::bytes>(result);
}

/// Python face of codec::Decompressor; refuses concurrent use from two threads, which the GIL
/// would not prevent once it is released.
class PyDecompressor {
public:
    PyDecompressor(const std::string& encoding, std::optional<std::size_t> max_output)
        : decompressor_(codec::parse_encoding(encoding), limit_from(max_output)) {}

    py::bytes feed(py::handle data) {
        Busy busy(*this);
        InputView input(data);
        GilRelease gil(GilRelease::Start::Held);
        BytesOutput out(gil);
        if (input.size() >= kReleaseInputBytes) gil.release();
        decompressor_.feed(input.data(), input.size(), out);
        return out.take();
    }

    void finish() {
        Busy busy(*this);
        decompressor_.finish();
    }

    const Decompressor& get() const { return decompressor_; }

private:
    class Busy {
    public:
        explicit Busy(PyDecompressor& owner) : owner_(owner) {
            if (owner_.busy_) throw std::runtime_error("Decompressor is in use by another thread");
            owner_.busy_ = true;
        }
        ~Busy() { owner_.busy_ = false; }
        Busy(const Busy&) = delete;
        Busy& operator=(const Busy&) = delete;

    private:
        PyDecompressor& owner_;
    };

    Decompressor decompressor_;
    bool busy_ = false;  // only read and written with the GIL held
};

void raise_codec_error(CodecError kind, const char* message, py::handle extra = py::handle()) {
    try {
        py::handle type = codec_error_class(kind);
        py::object instance = extra ? type(message, extra) : type(message);
        PyErr_SetObject(type.ptr(), instance.ptr());
    } catch (py::error_already_set& error) {
        error.restore();
    }
}

}  // namespace

void register_compression(py::module_& module) {
    // Bounded gzip/brotli codecs: use asap_native.compression, not these.
    py::module_& codec_module = module;
    codec_module.def("decompress", &decompress, py::arg("data"), py::arg("encoding"),
                     py::arg("max_output") = py::none(),
                     "Decompresses a whole body; raises past max_output bytes of output.");
    codec_module.def("decompress_payload", &decompress_payload, py::arg("data"),
                     py::arg("encoding"), py::arg("max_output") = py::none(),
                     "decompress(), except that identity returns `data` itself.");
    codec_module.def("payload_stats", &payload_stats,
                     "decompress_payload() calls by outcome, and bytes in and out.");
    codec_module.def("compress", &compress, py::arg("data"), py::arg("encoding"),
                     py::arg("level") = codec::kDefaultLevel,
                     "Compresses a whole body (level -1: gzip 6, brotli 4).");

    py::class_<PyDecompressor>(codec_module, "Decompressor",
                               "Streaming decoder with a maximum output size.")
        .def(py::init<const std::string&, std::optional<std::size_t>>(), py::arg("encoding"),
             py::arg("max_output") = py::none())
        .def("feed", &PyDecompressor::feed, py::arg("data"),
             "Decodes a chunk and returns its output.")
        .def("finish", &PyDecompressor::finish, "Checks the input ended at the end of the stream.")
        .def_property_readonly(
            "encoding",
            [](const PyDecompressor& self) { return codec::encoding_name(self.get().encoding()); })
        .def_property_readonly("max_output",
                               [](const PyDecompressor& self) -> py::object {
                                   std::size_t limit = self.get().max_output();
                                   if (limit == Decompressor::kNoLimit) return py::none();
                                   return py::int_(limit);
                               })
        .def_property_readonly("total_in",
                               [](const PyDecompressor& self) { return self.get().total_in(); })
        .def_property_readonly("total_out",
                               [](const PyDecompressor& self) { return self.get().total_out(); })
        .def_property_readonly("finished",
                               [](const PyDecompressor& self) { return self.get().finished(); });

    py::register_exception_translator([](std::exception_ptr pointer) {
        if (!pointer) return;
        try {
            std::rethrow_exception(pointer);
        } catch (const codec::TruncatedData& error) {
            raise_codec_error(CodecError::Truncated, error.what());
        } catch (const codec::CorruptData& error) {
            raise_codec_error(CodecError::Corrupt, error.what());
        } catch (const codec::DecompressionLimitExceeded& error) {
            raise_codec_error(CodecError::LimitExceeded, error.what(), py::int_(error.limit()));
        }
    });
}

}  // namespace asap_native::bindings
