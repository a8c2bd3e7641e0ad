#!/usr/bin/env bash
# Installs the client tools dbackup runs for its sources (PostgreSQL's and
# MariaDB's; MongoDB's are not in Debian: the native dumper serves). Idempotent.
set -euo pipefail
missing=()
command -v pg_dump >/dev/null && command -v pg_restore >/dev/null || missing+=(postgresql-client)
command -v mariadb-dump >/dev/null && command -v mariadb >/dev/null || missing+=(mariadb-client)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install ${missing[*]} (as root: apt-get install ${missing[*]})" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
