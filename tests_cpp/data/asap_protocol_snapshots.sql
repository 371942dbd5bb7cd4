CREATE TABLE IF NOT EXISTS snapshots (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
)
