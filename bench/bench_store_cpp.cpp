// Times the raw C++ SqliteSnapshotStore, with no Python, on the same data and in the same
// round structure as bench/bench_stores.py, so its figures are the floor the binding is
// measured against.
//
//   bench_store_cpp --data FILE --db PATH [--iterations N] [--rounds R]
//                   [--reader-versions K] [--background-tasks T] [--serve]
//
// FILE holds the JSON text of the snapshot data (written by the Python side, byte for byte
// what asap_native stores). Setup, outside any timing: the task "reader" gets versions 1..K,
// and T background tasks two versions each. A round on task X then times, one call each:
// save(X, v) for v = 1..N; get("reader") (latest) N times; list_versions("reader") N times;
// delete(X, v) for v = 1..N (the rows the save phase wrote).
//
// Without --serve, runs R rounds and prints one JSON line per op: {"op", "median_ns", "n"}.
// With --serve, prints {"ready": true} and then runs one round per stdin line
// "round <task_id> <iterations>", answering with {"round": task_id, "samples_ns": {op: [...]}},
// so the Python driver can interleave this store with the others; "quit" or EOF ends it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/snapshot.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Samples = std::map<std::string, std::vector<std::int64_t>>;

constexpr const char* kReaderTask = "reader";
constexpr const char* kCreatedAt = "2025-01-01T00:00:00+00:00";

struct Options {
    std::string data_path;
    std::string db_path;
    int iterations = 200;
    int rounds = 5;
    int reader_versions = 10;
    int background_tasks = 20;
    bool serve = false;
};

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "bench_store_cpp: " << problem << "\n"
              << "usage: bench_store_cpp --data FILE --db PATH [--iterations N] [--rounds R]\n"
              << "       [--reader-versions K] [--background-tasks T] [--serve]\n";
    std::exit(2);
}

int positive(const std::string& flag, const std::string& text) {
    try {
        std::size_t used = 0;
        const int value = std::stoi(text, &used);
        if (used == text.size() && value >= 0) return value;
    } catch (const std::exception&) {
    }
    usage(flag + " needs a non-negative integer, got '" + text + "'");
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--serve") {
            options.serve = true;
            continue;
        }
        if (i + 1 >= argc) usage(flag + " needs a value");
        const std::string value = argv[++i];
        if (flag == "--data")
            options.data_path = value;
        else if (flag == "--db")
            options.db_path = value;
        else if (flag == "--iterations")
            options.iterations = positive(flag, value);
        else if (flag == "--rounds")
            options.rounds = positive(flag, value);
        else if (flag == "--reader-versions")
            options.reader_versions = positive(flag, value);
        else if (flag == "--background-tasks")
            options.background_tasks = positive(flag, value);
        else
            usage("unknown option " + flag);
    }
    if (options.data_path.empty() || options.db_path.empty()) usage("--data and --db are required");
    return options;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

asap_native::Snapshot make_snapshot(const std::string& task, std::int64_t version,
                                    const std::string& data_json) {
    asap_native::Snapshot snapshot;
    snapshot.task_id = task;
    snapshot.id = "snap-" + task + "-" + std::to_string(version);
    snapshot.version = version;
    snapshot.data_json = data_json;
    snapshot.created_at = kCreatedAt;
    return snapshot;
}

void setup(asap_native::SqliteSnapshotStore& store, const Options& options,
           const std::string& data_json) {
    for (int v = 1; v <= options.reader_versions; ++v)
        store.save(make_snapshot(kReaderTask, v, data_json));
    for (int t = 0; t < options.background_tasks; ++t)
        for (int v = 1; v <= 2; ++v)
            store.save(make_snapshot("background-" + std::to_string(t), v, data_json));
}

template <typename Call>
std::int64_t timed(Call&& call) {
    const auto start = Clock::now();
    call();
    const auto stop = Clock::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count();
}

// One round on `task`, appending each call's time to `samples`.
void run_round(asap_native::SqliteSnapshotStore& store, const std::string& task, int iterations,
               const std::string& data_json, Samples& samples) {
    std::vector<asap_native::Snapshot> snapshots;
    snapshots.reserve(static_cast<std::size_t>(iterations));
    for (int v = 1; v <= iterations; ++v) snapshots.push_back(make_snapshot(task, v, data_json));

    // The sink keeps every result observable, so no call can be optimized away.
    std::size_t sink = 0;
    for (const auto& snapshot : snapshots)
        samples["save"].push_back(timed([&] { store.save(snapshot); }));
    for (int i = 0; i < iterations; ++i)
        samples["get"].push_back(timed([&] {
            const auto found = store.get(kReaderTask, std::nullopt);
            sink += found ? found->data_json.size() : 0;
        }));
    for (int i = 0; i < iterations; ++i)
        samples["list_versions"].push_back(
            timed([&] { sink += store.list_versions(kReaderTask).size(); }));
    for (int v = 1; v <= iterations; ++v)
        samples["delete"].push_back(timed([&] { sink += store.remove(task, v) ? 1 : 0; }));

    const std::size_t expected_get = data_json.size() * static_cast<std::size_t>(iterations);
    if (sink < expected_get) throw std::runtime_error("a get or delete found no row");
}

std::int64_t median(std::vector<std::int64_t> values) {
    if (values.empty()) return 0;
    const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    if (values.size() % 2 == 1) return *middle;
    const auto lower = *std::max_element(values.begin(), middle);
    return (lower + *middle) / 2;
}

int serve(asap_native::SqliteSnapshotStore& store, const std::string& data_json) {
    std::cout << nlohmann::json{{"ready", true}}.dump() << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream words(line);
        std::string command, task;
        int iterations = 0;
        words >> command;
        if (command == "quit") break;
        if (command != "round" || !(words >> task >> iterations) || iterations < 1) {
            std::cout << nlohmann::json{{"error", "bad command: " + line}}.dump() << std::endl;
            continue;
        }
        Samples samples;
        run_round(store, task, iterations, data_json, samples);
        std::cout << nlohmann::json{{"round", task}, {"samples_ns", samples}}.dump() << std::endl;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    try {
        const std::string data_json = read_file(options.data_path);
        asap_native::SqliteSnapshotStore store(options.db_path);
        setup(store, options, data_json);
        if (options.serve) return serve(store, data_json);

        Samples samples;
        for (int r = 0; r < options.rounds; ++r)
            run_round(store, "round-" + std::to_string(r), options.iterations, data_json, samples);
        for (const char* op : {"save", "get", "list_versions", "delete"}) {
            const auto& values = samples[op];
            std::cout << nlohmann::json{{"op", op},
                                        {"median_ns", median(values)},
                                        {"n", values.size()},
                                        {"data_bytes", data_json.size()}}
                             .dump()
                      << "\n";
        }
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "bench_store_cpp: " << error.what() << "\n";
        return 1;
    }
}
