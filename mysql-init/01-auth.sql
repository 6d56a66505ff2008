-- Schema of the auth service. MariaDB runs this once, on a new data directory
-- (docker-entrypoint-initdb.d, scripts/stack.sh), and running it again changes nothing.
-- The tests apply it to throwaway databases by renaming `auth` after CREATE DATABASE
-- and USE, so the table name below stays unqualified. No semicolons in comments:
-- the tests split the file on them.
CREATE DATABASE IF NOT EXISTS auth CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

USE auth;

-- Emails are stored normalized (trimmed, lowercase) by the service. The binary
-- collation makes the unique key compare them byte for byte.
CREATE TABLE IF NOT EXISTS `user` (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY user_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
