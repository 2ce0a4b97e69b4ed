#!/usr/bin/env bash
# Runs once, when the postgres image initialises an empty data directory (/docker-entrypoint-initdb.d).
# One role and one database per service (DESIGN §3: each service owns its data in its own database); a
# service's role owns its database and nothing else, and PUBLIC may not connect to it.
# The passwords come from the environment (LKG_<SERVICE>_PASSWORD, from the lkg-<service>-database secrets).
set -euo pipefail

for service in registry approvals issues scoring notifier; do
    password_var="LKG_${service^^}_PASSWORD"
    password="${!password_var:?$password_var is not set}"
    psql --no-psqlrc --set ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        --set role="lkg_${service}" --set password="${password}" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
