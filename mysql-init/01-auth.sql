-- Schema of the auth service, for the database the client has selected: MariaDB's image
-- runs it once on a new data directory, in MARIADB_DATABASE (docker-entrypoint-initdb.d);
-- scripts/stack.sh at every start in `auth`, and the tests in a database of their own, each
-- with the mariadb client. Running it again changes nothing.

-- Emails are stored normalized (trimmed, lowercase) by the service. The binary
-- collation makes the unique key compare them byte for byte.
CREATE TABLE IF NOT EXISTS `user` (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY user_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Failed logins, counted per account and per client address so that password
-- guessing is slowed down (auth/throttling.py). throttle_key is `account:` plus the
-- normalized email, or `address:` plus the client's IP address. A window starts
-- with the first failure and lasts LOGIN_FAILURE_WINDOW_SECONDS. A successful login
-- deletes its account's row, and rows whose window is over are swept as new failures
-- come in, which is what the index on window_started_at is for. The explicit
-- DEFAULT keeps older servers from adding ON UPDATE CURRENT_TIMESTAMP to the column.
CREATE TABLE IF NOT EXISTS login_failure (
    throttle_key VARCHAR(270) NOT NULL PRIMARY KEY,
    failures INT UNSIGNED NOT NULL,
    window_started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY login_failure_window (window_started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
