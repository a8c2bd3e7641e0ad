#!/usr/bin/env bash
# make bench: dbackup's pipeline against the raw dump and a staged pipeline
# like DBackup's, on a generated PostgreSQL database of about 1 GB (dump size).
# Prints a markdown table of wall times, ratios and peak RSS. Idempotent: the
# database is generated once and kept (drop dbackup_bench to regenerate).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_ROWS:-7500000}
DB=dbackup_bench
WORK=${BENCH_DIR:-/var/tmp/dbackup-bench}
PSQL=(psql -qAtX -h 127.0.0.1 -U postgres)
BIN=$PWD/bin/dbackup

command -v /usr/bin/time >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

if [ "$("${PSQL[@]}" -d postgres -c "SELECT count(*) FROM pg_database WHERE datname='$DB'")" = 0 ]; then
  echo "generating $DB ($ROWS rows)…" >&2
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
  "${PSQL[@]}" -d $DB <<SQL
CREATE TABLE orders AS
  SELECT g AS id, md5(g::text) AS ref, md5((g * 7)::text) AS customer,
         (g % 1000) * 1.25 AS amount, now() - (g % 100000) * interval '1 minute' AS created,
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'status-' || (g % 7) || ' note ' || repeat(chr(65 + g % 26), g % 20) END AS note
  FROM generate_series(1, $ROWS) g;
ALTER TABLE orders ADD PRIMARY KEY (id);
SQL
fi

MYROWS=${BENCH_MY_ROWS:-4000000}
MYDB=dbackup_bench
if [ "$(mariadb -h 127.0.0.1 -u root -N -e "SELECT count(*) FROM $MYDB.orders" 2>/dev/null || echo 0)" != "$MYROWS" ]; then
  echo "generating MariaDB $MYDB ($MYROWS rows)…" >&2
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $MYDB; CREATE DATABASE $MYDB; USE $MYDB; CREATE TABLE $MYDB.orders (id INT PRIMARY KEY, ref CHAR(32), customer CHAR(32), amount DECIMAL(12,2), created DATETIME, note VARCHAR(60)) ENGINE=InnoDB;
    INSERT INTO $MYDB.orders SELECT seq, MD5(seq), MD5(seq*7), (seq % 1000) * 1.25, NOW() - INTERVAL (seq % 100000) MINUTE,
      IF(seq % 10 = 0, NULL, CONCAT('status-', seq % 7, ' note ', REPEAT(CHAR(65 + seq % 26), seq % 20))) FROM seq_1_to_$MYROWS;"
fi

rm -rf "$WORK"; mkdir -p "$WORK"/{tmp,d1,d2,d3,staged,data}
export TMPDIR=$WORK/tmp
export DBACKUP_DATA_DIR=$WORK/data
"$BIN" source create -name pg -type postgres -config '{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}' >/dev/null
for d in d1 d2 d3; do "$BIN" destination create -name $d -type local -config "{\"path\":\"$WORK/$d\"}" >/dev/null; done
"$BIN" source create -name maria -type mysql -config '{"host":"127.0.0.1","user":"root","sslmode":"disable"}' >/dev/null
"$BIN" profile create -name bench >/dev/null 2>&1
"$BIN" job create -name one -source pg -databases $DB -destination d1 -compression zstd -profile bench >/dev/null
"$BIN" job create -name fast -source pg -databases $DB -destination d1 -compression zstd -level 1 -profile bench >/dev/null
"$BIN" job create -name maria -source maria -databases $MYDB -destination d1 -compression zstd -profile bench >/dev/null
"$BIN" job create -name three -source pg -databases $DB -destination d1 -destination d2 -destination d3 -compression zstd -profile bench >/dev/null

# measure NAME CMD…: wall seconds and peak RSS (KiB) of CMD, best of $REPEAT.
REPEAT=${BENCH_REPEAT:-2}
declare -A WALL RSS
measure() {
  local name=$1; shift
  local best=""
  for _ in $(seq "$REPEAT"); do
    rm -rf "$WORK"/d1/* "$WORK"/d2/* "$WORK"/d3/* "$WORK"/staged/*
    sync
    /usr/bin/time -f '%e %M' -o "$WORK/time.out" bash -c "$*" >/dev/null 2>"$WORK/stderr.out" || { cat "$WORK/stderr.out" >&2; exit 1; }
    read -r wall rss < "$WORK/time.out"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; RSS[$name]=$rss; fi
  done
  WALL[$name]=$best
  echo "$name: ${WALL[$name]} s, peak RSS $((RSS[$name] / 1024)) MiB" >&2
}

KEYHEX=$("$BIN" profile export-key bench)
measure raw "pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB > /dev/null"
RAWSIZE=$(pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB | wc -c)
measure one "'$BIN' job run one"
STORED=$(find "$WORK/d1" -name '*.enc' -printf '%s')
measure fast "'$BIN' job run fast"
FASTSTORED=$(find "$WORK/d1" -name '*.enc' -printf '%s')
measure three "'$BIN' job run three"
# DBackup's shape: pg_dump with its default compression into a temp file, an
# encryption pass into a second file (AES-256 in counter mode, the cipher
# inside GCM), checksums of the result, then a copy to the destination.
measure staged "pg_dump -h 127.0.0.1 -U postgres -Fc -d $DB -f '$WORK/staged/dump' &&
  openssl enc -aes-256-ctr -K $KEYHEX -iv 000102030405060708090a0b0c0d0e0f -in '$WORK/staged/dump' -out '$WORK/staged/dump.enc' &&
  sha256sum '$WORK/staged/dump.enc' && md5sum '$WORK/staged/dump.enc' && cp '$WORK/staged/dump.enc' '$WORK/d1/' && rm '$WORK/staged/dump' '$WORK/staged/dump.enc'"
printf '[client]\npassword=""\n' > "$WORK/my.cnf"; chmod 600 "$WORK/my.cnf"
measure myraw "mariadb-dump --defaults-extra-file=$WORK/my.cnf -h 127.0.0.1 -u root --skip-ssl --single-transaction --quick --routines --triggers --events --hex-blob $MYDB > /dev/null"
MYSIZE=$(mariadb-dump --defaults-extra-file=$WORK/my.cnf -h 127.0.0.1 -u root --skip-ssl --single-transaction --quick --hex-blob $MYDB | wc -c)
measure maria "'$BIN' job run maria"
TMPFILES=$(find "$WORK/tmp" -type f | wc -l)

# What streaming validation costs: the pipeline over the same dumps read
# from the page cache (no dump tool to hide behind: the worst case), with
# and without the format's validator, alternating.
pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB > "$WORK/staged/pg.dump"
mariadb-dump --defaults-extra-file=$WORK/my.cnf -h 127.0.0.1 -u root --skip-ssl --single-transaction --quick --routines --triggers --events --hex-blob $MYDB > "$WORK/staged/my.sql"
VALIDATION=$(go run ./cmd/validatebench -n "${BENCH_VALIDATE_REPEAT:-5}" pg_custom="$WORK/staged/pg.dump" sql="$WORK/staged/my.sql")
rm -f "$WORK/staged/pg.dump" "$WORK/staged/my.sql"

# A restore drill of the zstd + AES backup (throwaway PostgreSQL, every
# table counted) against what a user would run by hand: pg_restore of the
# same plain dump into a new database of the running server.
mkdir -p "$WORK/keep"
"$BIN" destination create -name keep -type local -config "{\"path\":\"$WORK/keep\"}" >/dev/null
"$BIN" job create -name kept -source pg -databases $DB -destination keep -compression zstd -profile bench >/dev/null
"$BIN" job run kept >/dev/null
KEPT=$("$BIN" backup list -destination keep | awk 'NR == 2 {print $1}')
"$BIN" backup download -destination keep -plain -out "$WORK/plain.dump" "$KEPT" >/dev/null
measure pgrestore "${PSQL[*]} -d postgres -c 'DROP DATABASE IF EXISTS dbackup_bench_restored' && ${PSQL[*]} -d postgres -c 'CREATE DATABASE dbackup_bench_restored' &&
  pg_restore -h 127.0.0.1 -U postgres --no-owner --no-acl --exit-on-error -d dbackup_bench_restored '$WORK/plain.dump'"
"${PSQL[@]}" -d postgres -c 'DROP DATABASE IF EXISTS dbackup_bench_restored'
measure drill "'$BIN' backup drill -destination keep '$KEPT'"
read -r STARTUP RESTORE <<<"$("$BIN" job recovery -json | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    if r["job_name"] == "kept": d = r["last_drill"]; print(d["startup_ms"], d["restore_ms"])')"
rm -f "$WORK/plain.dump"

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
cat <<MD
| run | wall (s) | peak RSS (MiB) | ratio |
|---|---|---|---|
| raw \`pg_dump -Fc -Z0 > /dev/null\` | ${WALL[raw]} | $((RSS[raw] / 1024)) | 1.00 (the limit) |
| dbackup zstd + AES-256-GCM, 1 local destination | ${WALL[one]} | $((RSS[one] / 1024)) | $(ratio ${WALL[one]} ${WALL[raw]}) × raw (target ≤ 1.25) |
| dbackup zstd level 1 + AES-256-GCM, 1 local destination | ${WALL[fast]} | $((RSS[fast] / 1024)) | $(ratio ${WALL[fast]} ${WALL[raw]}) × raw |
| dbackup zstd + AES-256-GCM, 3 local destinations | ${WALL[three]} | $((RSS[three] / 1024)) | $(ratio ${WALL[three]} ${WALL[one]}) × one destination (target ≤ 1.10) |
| staged (pg_dump -Fc -Z6 → file → encrypt → file → checksums → copy) | ${WALL[staged]} | $((RSS[staged] / 1024)) | $(ratio ${WALL[staged]} ${WALL[one]}) × dbackup (target ≥ 3) |

| MariaDB run | wall (s) | peak RSS (MiB) | ratio |
|---|---|---|---|
| raw \`mariadb-dump --single-transaction … > /dev/null\` | ${WALL[myraw]} | $((RSS[myraw] / 1024)) | 1.00 (the limit) |
| dbackup MariaDB, zstd + AES-256-GCM, 1 local destination | ${WALL[maria]} | $((RSS[maria] / 1024)) | $(ratio ${WALL[maria]} ${WALL[myraw]}) × raw (target ≤ 1.25) |

| Restore drill | wall (s) | peak RSS (MiB) | ratio |
|---|---|---|---|
| \`pg_restore\` of the plain dump into a new database of the running server | ${WALL[pgrestore]} | $((RSS[pgrestore] / 1024)) | 1.00 |
| \`dbackup backup drill\`: throwaway PostgreSQL, zstd + AES-256-GCM backup, every table counted | ${WALL[drill]} | $((RSS[drill] / 1024)) | $(ratio ${WALL[drill]} ${WALL[pgrestore]}) × pg_restore; without the server's start-up ($(awk "BEGIN{printf \"%.2f\", $STARTUP / 1000}") s): $(awk "BEGIN{printf \"%.2f\", (${WALL[drill]} - $STARTUP / 1000) / ${WALL[pgrestore]}}") × (target ≤ 1.3) |

The drill's own figures: server start-up $STARTUP ms, restore and count (the measured recovery time) $RESTORE ms.

MariaDB dump $((MYSIZE / 1048576)) MiB. PostgreSQL dump size $((RAWSIZE / 1048576)) MiB raw; stored $((STORED / 1048576)) MiB with zstd level 3 (the default), $((FASTSTORED / 1048576)) MiB with level 1.
Temporary files left or created by dbackup in TMPDIR: $TMPFILES (target 0). Best of $REPEAT runs each, $(nproc) cores.

Streaming validation (pipeline zstd 3 + AES-256-GCM over the dumps in the page cache, median of ${BENCH_VALIDATE_REPEAT:-5}; target: at most 3 % of a backup's wall time):

$VALIDATION
MD
