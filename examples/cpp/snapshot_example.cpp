// Saves a snapshot to a SQLite file and reads it back, with the C++ core alone.
#include <cstdio>
#include <exception>
#include <string>

#include "asap_native/sqlite_snapshot_store.hpp"
#include "asap_native/version.hpp"

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "example_state.db";
    try {
        asap_native::SqliteSnapshotStore store(path);
        asap_native::Snapshot snapshot;
        snapshot.task_id = "task_1";
        snapshot.id = "snap_1";
        snapshot.version = 1;
        snapshot.data_json = R"({"step":"done"})";
        snapshot.created_at = "2026-11-29T12:00:00+00:00";
        store.save(snapshot);

        const auto got = store.get("task_1", std::nullopt);
        if (!got || got->data_json != snapshot.data_json) {
            std::fprintf(stderr, "read back something else\n");
            return 1;
        }
        std::printf("asap_native %s: task_1 v%lld %s\n", ASAP_NATIVE_VERSION,
                    static_cast<long long>(got->version), got->data_json.c_str());
        store.close();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
    return 0;
}
