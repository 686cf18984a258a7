-- A counter that every change to the clients table increments in the same
-- transaction, so each process can keep its clients in memory and learn
-- with one small read that another process (the CLI, another `asnidp
-- serve`) changed one. Portable SQL as in 00001_init.sql.

-- +goose Up
CREATE TABLE client_generation (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO client_generation (id, generation) VALUES (1, 0);

-- +goose Down
DROP TABLE client_generation;
