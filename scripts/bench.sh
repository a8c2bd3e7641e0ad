#!/usr/bin/env bash
# make bench: dbackup's backups and restores against the tools a user would
# run by hand, on generated databases: PostgreSQL (~1 GB dump), MariaDB
# (~540 MB), 20 small PostgreSQL databases. Every pair runs in the same
# round, rounds are repeated, and the table shows medians (peak RSS: the
# largest seen). Idempotent: the databases are generated once and kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_ROWS:-7500000}
DB=dbackup_bench
WORK=${BENCH_DIR:-/var/tmp/dbackup-bench}
PSQL=(psql -qAtX -h 127.0.0.1 -U postgres)
BIN=$PWD/bin/dbackup
SRV=/srv/dbackup-test
REPEAT=${BENCH_REPEAT:-3}

command -v /usr/bin/time >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

orders() { # DB ROWS: the bench table, ~140 bytes a row in pg_dump -Fc -Z0
  "${PSQL[@]}" -d "$1" <<SQL
CREATE TABLE orders AS
  SELECT g AS id, md5(g::text) AS ref, md5((g * 7)::text) AS customer,
         (g % 1000) * 1.25 AS amount, now() - (g % 100000) * interval '1 minute' AS created,
         CASE WHEN g % 10 = 0 THEN NULL ELSE 'status-' || (g % 7) || ' note ' || repeat(chr(65 + g % 26), g % 20) END AS note
  FROM generate_series(1, $2) g;
ALTER TABLE orders ADD PRIMARY KEY (id);
SQL
}
has_db() { [ "$("${PSQL[@]}" -d postgres -c "SELECT count(*) FROM pg_database WHERE datname='$1'")" = 1 ]; }
if ! has_db $DB; then
  echo "generating $DB ($ROWS rows)…" >&2
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
  orders $DB "$ROWS"
fi
# 20 databases of ~5 MB, and one database of their total size.
MULTI=()
for i in $(seq -w 1 20); do
  MULTI+=("dbackup_bench_m$i")
  has_db "dbackup_bench_m$i" || { "${PSQL[@]}" -d postgres -c "CREATE DATABASE dbackup_bench_m$i"; orders "dbackup_bench_m$i" 37500; }
done
has_db dbackup_bench_one || { "${PSQL[@]}" -d postgres -c "CREATE DATABASE dbackup_bench_one"; orders dbackup_bench_one 750000; }

MYROWS=${BENCH_MY_ROWS:-4000000}
MYDB=dbackup_bench
if [ "$(mariadb -h 127.0.0.1 -u root -N -e "SELECT count(*) FROM $MYDB.orders" 2>/dev/null || echo 0)" != "$MYROWS" ]; then
  echo "generating MariaDB $MYDB ($MYROWS rows)…" >&2
  mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $MYDB; CREATE DATABASE $MYDB; USE $MYDB; CREATE TABLE $MYDB.orders (id INT PRIMARY KEY, ref CHAR(32), customer CHAR(32), amount DECIMAL(12,2), created DATETIME, note VARCHAR(60)) ENGINE=InnoDB;
    INSERT INTO $MYDB.orders SELECT seq, MD5(seq), MD5(seq*7), (seq % 1000) * 1.25, NOW() - INTERVAL (seq % 100000) MINUTE,
      IF(seq % 10 = 0, NULL, CONCAT('status-', seq % 7, ' note ', REPEAT(CHAR(65 + seq % 26), seq % 20))) FROM seq_1_to_$MYROWS;"
fi

rm -rf "$WORK"; mkdir -p "$WORK"/{tmp,d1,d2,d3,staged,data,keep}
export TMPDIR=$WORK/tmp
export DBACKUP_DATA_DIR=$WORK/data
install -d -o dbackup-store "$SRV/home/bench"
"$BIN" source create -name pg -type postgres -config '{"host":"127.0.0.1","user":"postgres","sslmode":"disable"}' >/dev/null
"$BIN" source create -name maria -type mysql -config '{"host":"127.0.0.1","user":"root","sslmode":"disable"}' >/dev/null
for d in d1 d2 d3 keep; do "$BIN" destination create -name $d -type local -config "{\"path\":\"$WORK/$d\"}" >/dev/null; done
CGO_ENABLED=0 go build -o "$WORK/destbench" ./cmd/destbench
DESTBENCH_MINIO='127.0.0.1:9100 dbackup-minio dbackup-minio-secret' DESTBENCH_SECRETS='{"secret_access_key":"dbackup-minio-secret"}' \
  "$WORK/destbench" -make-bucket dbbench -type s3 -config '{"preset":"minio","endpoint":"http://127.0.0.1:9100","bucket":"dbbench","access_key_id":"dbackup-minio"}' </dev/null >/dev/null
echo '{"secret_access_key":"dbackup-minio-secret"}' | "$BIN" destination create -name s3 -type s3 -secrets-stdin \
  -config '{"preset":"minio","endpoint":"http://127.0.0.1:9100","bucket":"dbbench","access_key_id":"dbackup-minio"}' >/dev/null
python3 -c 'import json,sys; print(json.dumps({"private_key": open(sys.argv[1]).read()}))' "$SRV/etc/ssh/client_ed25519" |
  "$BIN" destination create -name sftp -type sftp -secrets-stdin \
  -config "{\"host\":\"127.0.0.1\",\"port\":2222,\"user\":\"dbackup-store\",\"path\":\"bench\",\"host_key\":\"$(cat $SRV/etc/ssh/host_ed25519.pub)\"}" >/dev/null
"$BIN" profile create -name bench >/dev/null 2>&1
job() { "$BIN" job create -profile bench -compression zstd "$@" >/dev/null; }
job -name def -source pg -databases $DB -destination d1
job -name l3 -source pg -databases $DB -destination d1 -level 3
job -name adapt -source pg -databases $DB -destination d1 -level -1
job -name s3 -source pg -databases $DB -destination s3
job -name mixed -source pg -databases $DB -destination d1 -destination s3 -destination sftp
job -name maria -source maria -databases $MYDB -destination d1
job -name multi -source pg -databases "$(IFS=,; echo "${MULTI[*]}")" -destination d1
job -name one100 -source pg -databases dbackup_bench_one -destination d1
job -name kept -source pg -databases $DB -destination keep
job -name keptmulti -source pg -databases "$(IFS=,; echo "${MULTI[*]}")" -destination keep

# The stored copy a restore reads, and its plain dump for pg_restore.
"$BIN" job run kept >/dev/null
"$BIN" job run keptmulti >/dev/null
KEPT=$("$BIN" backup list -destination keep -job kept | awk 'NR == 2 {print $1}')
KEPTMULTI=$("$BIN" backup list -destination keep -job keptmulti | awk 'NR == 2 {print $1}')
"$BIN" backup download -destination keep -plain -out "$WORK/plain.dump" "$KEPT" >/dev/null
KEYHEX=$("$BIN" profile export-key bench)
printf '%s' "$KEYHEX" > "$WORK/pass"; chmod 600 "$WORK/pass"
printf '[client]\npassword=""\n' > "$WORK/my.cnf"; chmod 600 "$WORK/my.cnf"
MYDUMP="mariadb-dump --defaults-extra-file=$WORK/my.cnf -h 127.0.0.1 -u root --skip-ssl --single-transaction --quick --routines --triggers --events --hex-blob $MYDB"
dropdb() { for d in "$@"; do "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $d"; done; }
RESTORE_TARGETS=$(for d in "${MULTI[@]}"; do printf -- '-db %s=%s_r ' "$d" "$d"; done)

# The staged peer: the dump into a file, zstd -3 of that file, openssl
# AES-256-CBC of that into another, a copy to the destination; each
# intermediate removed as soon as the next step has its output. Its peak
# temporary disk is recorded in staged.peak.
STAGED="set -e; S='$WORK/staged'
pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB -f \$S/dump
zstd -3 -q \$S/dump -o \$S/dump.zst; a=\$(stat -c %s \$S/dump); b=\$(stat -c %s \$S/dump.zst); rm \$S/dump
openssl enc -aes-256-cbc -pbkdf2 -salt -pass file:$WORK/pass -in \$S/dump.zst -out \$S/dump.zst.enc; c=\$(stat -c %s \$S/dump.zst.enc); rm \$S/dump.zst
sha256sum \$S/dump.zst.enc >/dev/null; cp \$S/dump.zst.enc '$WORK/d1/'; rm \$S/dump.zst.enc
echo \$(( a + b > b + c ? a + b : b + c )) > '$WORK/staged.peak'"

declare -A RUNS RSS CPU
# run NAME CMD…: one timed run; walls and CPU seconds (user + system of the
# command and its children, not of the servers it talks to) are kept per
# name, RSS is the peak.
run() {
  local name=$1; shift
  rm -rf "$WORK"/d1/* "$WORK"/d2/* "$WORK"/d3/* "$WORK"/staged/* "$SRV/home/bench/"* 2>/dev/null || true
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.out" bash -c "$*" >/dev/null 2>"$WORK/stderr.out" || { cat "$WORK/stderr.out" >&2; exit 1; }
  read -r wall rss user sys < "$WORK/time.out"
  RUNS[$name]="${RUNS[$name]:-} $wall"
  CPU[$name]="${CPU[$name]:-} $(awk "BEGIN{print $user + $sys}")"
  [ "${RSS[$name]:-0}" -ge "$rss" ] || RSS[$name]=$rss
  echo "$name: $wall s, $((rss / 1024)) MiB, CPU $user + $sys s" >&2
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$REPEAT"); do
  echo "round $round of $REPEAT" >&2
  run raw "pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB > /dev/null"
  run def "'$BIN' job run def"
  run staged "$STAGED"
  run l3 "'$BIN' job run l3"
  run adapt "'$BIN' job run adapt"
  run s3 "'$BIN' job run s3"
  run mixed "'$BIN' job run mixed"
  run myraw "$MYDUMP > /dev/null"
  run myzstd "$MYDUMP | zstd -1 -q > /dev/null"
  run maria "'$BIN' job run maria"
  run rawone100 "pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d dbackup_bench_one > /dev/null"
  run rawmulti "printf '%s\\n' ${MULTI[*]} | xargs -P2 -I{} sh -c 'pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d {} > /dev/null'"
  run one100 "'$BIN' job run one100"
  run multi "'$BIN' job run multi"
  dropdb dbackup_bench_restored
  run pgrestore "${PSQL[*]} -d postgres -c 'CREATE DATABASE dbackup_bench_restored' &&
    pg_restore -h 127.0.0.1 -U postgres --no-owner --no-acl --exit-on-error -d dbackup_bench_restored '$WORK/plain.dump'"
  dropdb dbackup_bench_restored
  run restore "'$BIN' restore -destination keep -backup '$KEPT' -source pg -db $DB=dbackup_bench_restored"
  dropdb dbackup_bench_restored $(printf '%s_r ' "${MULTI[@]}")
  run restoremulti "'$BIN' restore -destination keep -backup '$KEPTMULTI' -source pg $RESTORE_TARGETS"
  dropdb $(printf '%s_r ' "${MULTI[@]}")
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
STAGED_PEAK=$(cat "$WORK/staged.peak")
run drill "'$BIN' backup drill -destination keep '$KEPT'"
read -r STARTUP RESTORE <<<"$("$BIN" job recovery -json | python3 -c 'import json,sys
for r in json.load(sys.stdin):
    if r["job_name"] == "kept": d = r["last_drill"]; print(d["startup_ms"], d["restore_ms"])')"

# Sizes: stored bytes of each compression choice, from the last round.
stored() { "$BIN" execution list -job "$1" -json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["bytes_stored"])'; }
RAWSIZE=$(stat -c %s "$WORK/plain.dump")
DEFSIZE=$(stored def); L3SIZE=$(stored l3); ADSIZE=$(stored adapt)
LEVELS=$("$BIN" execution show -json "$("$BIN" execution list -job adapt -json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" |
  python3 -c 'import json,sys; print([l["message"] for l in json.load(sys.stdin)["logs"] if l["message"].startswith("compression: ")][-1])')
TMPFILES=$(find "$WORK/tmp" -type f | wc -l)
MYSIZE=$($MYDUMP | wc -c)
rm -f "$WORK/plain.dump"

# What streaming validation costs: the pipeline over the same dumps read
# from the page cache (no dump tool to hide behind: the worst case), with
# and without the format's validator, alternating.
pg_dump -h 127.0.0.1 -U postgres -Fc -Z0 -d $DB > "$WORK/staged/pg.dump"
$MYDUMP > "$WORK/staged/my.sql"
VALIDATION=$(go run ./cmd/validatebench -n "${BENCH_VALIDATE_REPEAT:-5}" pg_custom="$WORK/staged/pg.dump" sql="$WORK/staged/my.sql")
rm -f "$WORK/staged/pg.dump" "$WORK/staged/my.sql"

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END{print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
med() { median "${RUNS[$1]}"; }
ratio() { awk "BEGIN{printf \"%.2f\", $(med "$1") / $(med "$2")}"; }
mib() { echo $(( RSS[$1] / 1024 )); }
row() { # NAME LABEL RATIO-TEXT
  echo "| $2 | $(med "$1") | $(median "${CPU[$1]}") | $(mib "$1") | $3 |"
}
cat <<MD
$(date -u +%Y-%m-%d), $(nproc) cores, default settings (memory_limit_mib 40, dump_concurrency 2), load average before $LOAD_BEFORE, after $LOAD_AFTER; medians of $REPEAT rounds (each round runs every line once, in this order), peak RSS the largest of the rounds (VmHWM, the binary's own pages included); CPU is user + system time of the command and its children (the dump tool), not of the database or storage servers, which share the same cores.

| PostgreSQL, 1 GB dump | wall (s) | CPU (s) | peak RSS (MiB) | ratio |
|---|---|---|---|---|
$(row raw "raw \`pg_dump -Fc -Z0 > /dev/null\`" "1.00 (the limit)")
$(row def "dbackup, default settings (zstd level 1 + AES-256-GCM), 1 local destination" "$(ratio def raw) × raw (target ≤ 1.15)")
$(row l3 "dbackup, zstd level 3" "$(ratio l3 raw) × raw")
$(row adapt "dbackup, zstd adaptive (1..3)" "$(ratio adapt raw) × raw")
$(row s3 "dbackup → S3 (MinIO)" "$(ratio s3 raw) × raw")
$(row mixed "dbackup → local + S3 + SFTP at once" "$(ratio mixed raw) × raw (target ≤ 1.25)")
$(row staged "staged peer: \`pg_dump -Fc -Z0\` → file, \`zstd -3\` → file, \`openssl enc -aes-256-cbc -pbkdf2\` → file, copy" "$(ratio staged def) × dbackup; $((STAGED_PEAK / 1048576)) MiB of temporary disk at its peak, dbackup's $TMPFILES files")

Stored sizes: plain dump $((RAWSIZE / 1048576)) MiB; default $((DEFSIZE / 1048576)) MiB, level 3 $((L3SIZE / 1048576)) MiB (default ÷ level 3 = $(awk "BEGIN{printf \"%.3f\", $DEFSIZE / $L3SIZE}"), target ≤ 1.02), adaptive $((ADSIZE / 1048576)) MiB.
Adaptive run's log: $LEVELS.

| MariaDB, $((MYSIZE / 1048576)) MiB dump | wall (s) | CPU (s) | peak RSS (MiB) | ratio |
|---|---|---|---|---|
$(row myraw "raw \`mariadb-dump … > /dev/null\`" "$(ratio myraw myzstd) × the line below")
$(row myzstd "\`mariadb-dump … | zstd -1 > /dev/null\`" "1.00")
$(row maria "dbackup, default settings, 1 local destination" "$(ratio maria myzstd) × \`mariadb-dump | zstd -1\` (target ≤ 1.10)")

| Many databases | wall (s) | CPU (s) | peak RSS (MiB) | ratio |
|---|---|---|---|---|
$(row rawone100 "raw \`pg_dump -Fc -Z0 > /dev/null\` of one database of ~100 MB" "1.00")
$(row rawmulti "raw \`pg_dump\` of 20 databases of ~5 MB (the same rows), 2 at a time (\`xargs -P2\`)" "$(ratio rawmulti rawone100) × one database: the tool's own per-database cost")
$(row one100 "dbackup, the one database of ~100 MB" "$(ratio one100 rawone100) × its raw dump")
$(row multi "dbackup, the 20 databases in one job (dump_concurrency 2)" "$(ratio multi one100) × one database (target ≤ 1.6); $(ratio multi rawmulti) × their raw dumps 2 at a time")

| Restore | wall (s) | CPU (s) | peak RSS (MiB) | ratio |
|---|---|---|---|---|
$(row pgrestore "\`pg_restore\` of the plain dump into a new database" "1.00")
$(row restore "\`dbackup restore\` of the stored backup (zstd + AES) into a new database, checked as it streams into a scratch database" "$(ratio restore pgrestore) × pg_restore (target ≤ 1.15)")
$(row restoremulti "\`dbackup restore\` of the 20 databases into 20 new ones" "")
$(row drill "\`dbackup backup drill\`: throwaway PostgreSQL, every table counted (one run)" "$(ratio drill pgrestore) × pg_restore; server start-up $STARTUP ms, restore and count $RESTORE ms")

Temporary files left or created by dbackup in TMPDIR: $TMPFILES (target 0).

Streaming validation (pipeline default zstd + AES-256-GCM over the dumps in the page cache, median of ${BENCH_VALIDATE_REPEAT:-5}; target: at most 3 % of a backup's wall time):

$VALIDATION
MD
