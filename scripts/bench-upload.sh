#!/usr/bin/env bash
# make bench (uploads): a 1 GiB incompressible stream to each loopback
# server through dbackup's destination (cmd/destbench, fed in 256 KiB blocks
# as a backup run feeds it) against the protocol's own command-line client
# uploading the same file. Prints a markdown table; best of $BENCH_REPEAT.
set -euo pipefail
cd "$(dirname "$0")/.."
SRV=/srv/dbackup-test
WORK=${BENCH_DIR:-/var/tmp/dbackup-bench}
FILE=$WORK/upload.bin
BIN=$PWD/bin/destbench
REPEAT=${BENCH_REPEAT:-2}
mkdir -p "$WORK"
CGO_ENABLED=0 go build -o "$BIN" ./cmd/destbench
[ -f "$FILE" ] && [ "$(stat -c %s "$FILE")" = 1073741824 ] || head -c 1G /dev/urandom > "$FILE"
install -d -o dbackup-store "$SRV/home/bench"

# Credentials for the clients, in files (never on a command line).
printf 'machine 127.0.0.1 login dbackup-store password dbackup-test-pw\n' > "$WORK/netrc"
printf 'username = dbackup-store\npassword = dbackup-test-pw\n' > "$WORK/smbauth"
chmod 600 "$WORK/netrc" "$WORK/smbauth"
KEY=$SRV/etc/ssh/client_ed25519
SSHKEY_JSON=$(python3 -c 'import json,sys; print(json.dumps({"private_key": open(sys.argv[1]).read()}))' "$KEY")
PW_JSON='{"password":"dbackup-test-pw"}'

declare -A WALL RSS
measure() { # NAME CMD…: best wall seconds and its peak RSS (KiB)
  local name=$1; shift
  local best=""
  for _ in $(seq "$REPEAT"); do
    rm -f "$SRV/home/bench/"* 2>/dev/null || true
    /usr/bin/time -f '%e %M' -o "$WORK/time.out" bash -c "$*" >/dev/null 2>"$WORK/stderr.out" || { cat "$WORK/stderr.out" >&2; exit 1; }
    read -r wall rss < "$WORK/time.out"
    if [ -z "$best" ] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; RSS[$name]=$rss; fi
  done
  WALL[$name]=$best
  echo "$name: $best s, peak RSS $((RSS[$name] / 1024)) MiB" >&2
}
dest() { # TYPE SECRETS CONFIG
  echo "DESTBENCH_SECRETS='$2' '$BIN' -type $1 -config '$3' < '$FILE'"
}

measure sftp_cli "echo 'put $FILE bench/cli.bin' | sftp -q -b - -P 2222 -i $KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null dbackup-store@127.0.0.1"
measure sftp "$(dest sftp "$SSHKEY_JSON" "{\"host\":\"127.0.0.1\",\"port\":2222,\"user\":\"dbackup-store\",\"path\":\"bench\",\"host_key\":\"$(cat $SRV/etc/ssh/host_ed25519.pub)\"}")"
measure ftp_cli "curl -sS --netrc-file $WORK/netrc --ssl-reqd -k -T $FILE ftp://127.0.0.1:2121/bench/cli.bin"
measure ftp "$(dest ftp "$PW_JSON" '{"host":"127.0.0.1","port":2121,"user":"dbackup-store","path":"bench","insecure_skip_verify":true}')"
measure dav_cli "curl -sS --netrc-file $WORK/netrc -T $FILE http://127.0.0.1:8081/bench/cli.bin"
measure dav "$(dest webdav "$PW_JSON" '{"url":"http://127.0.0.1:8081/","user":"dbackup-store","path":"bench"}')"
measure smb_cli "smbclient -q //127.0.0.1/backups -p 4450 -A $WORK/smbauth -c 'put $FILE bench/cli.bin'"
measure smb_cli_signed "smbclient -q //127.0.0.1/backups -p 4450 -A $WORK/smbauth --client-protection=sign -c 'put $FILE bench/cli.bin'"
measure smb "$(dest smb "$PW_JSON" '{"host":"127.0.0.1","port":4450,"share":"backups","user":"dbackup-store","path":"bench"}')"
measure s3 "DESTBENCH_MINIO='127.0.0.1:9100 dbackup-minio dbackup-minio-secret' $(dest s3 '{"secret_access_key":"dbackup-minio-secret"}' '{"preset":"minio","endpoint":"http://127.0.0.1:9100","bucket":"bench","access_key_id":"dbackup-minio"}' | sed 's/-type s3/-make-bucket bench -type s3/')"

ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }
mibs() { awk "BEGIN{printf \"%.0f\", 1024 / $1}"; }
cat <<MD
| upload of 1 GiB | client (s) | dbackup (s) | dbackup MiB/s | dbackup throughput ÷ client's (target ≥ 0.9) |
|---|---|---|---|---|
| SFTP (OpenSSH) vs \`sftp\` | ${WALL[sftp_cli]} | ${WALL[sftp]} | $(mibs ${WALL[sftp]}) | $(ratio ${WALL[sftp_cli]} ${WALL[sftp]}) |
| FTPS (vsftpd) vs \`curl --ssl-reqd\` | ${WALL[ftp_cli]} | ${WALL[ftp]} | $(mibs ${WALL[ftp]}) | $(ratio ${WALL[ftp_cli]} ${WALL[ftp]}) |
| WebDAV (nginx) vs \`curl -T\` | ${WALL[dav_cli]} | ${WALL[dav]} | $(mibs ${WALL[dav]}) | $(ratio ${WALL[dav_cli]} ${WALL[dav]}) |
| SMB3 (Samba) vs \`smbclient\` (unsigned) | ${WALL[smb_cli]} | ${WALL[smb]} | $(mibs ${WALL[smb]}) | $(ratio ${WALL[smb_cli]} ${WALL[smb]}) |
| SMB3 (Samba) vs \`smbclient --client-protection=sign\` | ${WALL[smb_cli_signed]} | ${WALL[smb]} | $(mibs ${WALL[smb]}) | $(ratio ${WALL[smb_cli_signed]} ${WALL[smb]}) |

S3 (MinIO) upload of 1 GiB: ${WALL[s3]} s ($(mibs ${WALL[s3]}) MiB/s), peak RSS $((RSS[s3] / 1024)) MiB (target ≤ 64). Best of $REPEAT runs each, $(nproc) cores, servers on the same machine.
MD
