#!/bin/bash
# The official image's first start, for MariaDB: on an empty data directory, create the
# database, the user and the root password from MYSQL_*, run /docker-entrypoint-initdb.d/*.sql
# in MYSQL_DATABASE on a server that listens on its socket only, then start for real.
set -euo pipefail
datadir=/var/lib/mysql
socket=/run/mysqld/init.sock

if [[ ! -d $datadir/mysql ]]; then
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
    mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket="$socket" &
    init_pid=$!
    until mariadb-admin --socket="$socket" --silent ping >/dev/null 2>&1; do sleep 0.5; done
    mariadb --socket="$socket" --user=root <<SQL
CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'%' IDENTIFIED BY '$MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
SQL
    for sql_file in /docker-entrypoint-initdb.d/*.sql; do
        [[ -e $sql_file ]] || continue
        echo "entrypoint: running $sql_file"
        mariadb --socket="$socket" --user=root --password="$MYSQL_ROOT_PASSWORD" --database="$MYSQL_DATABASE" <"$sql_file"
    done
    kill "$init_pid"
    wait "$init_pid" || true
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306
