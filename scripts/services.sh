#!/usr/bin/env bash
# Installs (on a fresh Debian machine) and starts the services the tests need,
# bound to 127.0.0.1 only. Idempotent: safe to run again and again.
set -euo pipefail

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "scripts/services.sh must run as root (it installs packages and starts services)" >&2; exit 1; fi
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    need_root
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

start_postgres() {
  apt_install postgresql postgresql-client
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  local hba=/etc/postgresql/$ver/main/pg_hba.conf
  # A password-checked role for the wrong-password tests, and trust for the
  # admin role on loopback, ahead of whatever the machine has.
  if ! grep -q 'dbackup-test' "$hba"; then
    need_root
    { echo "host all dbackup_pw 127.0.0.1/32 scram-sha-256 # dbackup-test"
      echo "host all postgres 127.0.0.1/32 trust # dbackup-test"
      cat "$hba"; } > "$hba.new"
    chown --reference="$hba" "$hba.new"; chmod --reference="$hba" "$hba.new"
    mv "$hba.new" "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload 2>/dev/null || true
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    need_root
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dbackup_pw') THEN
    CREATE ROLE dbackup_pw LOGIN CREATEDB PASSWORD 'dbackup-test-pw';
  END IF;
END $$;
SQL
}

start_mariadb() {
  apt_install mariadb-server mariadb-client
  if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    need_root
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --bind-address=127.0.0.1 --user=mysql
  fi
  for _ in $(seq 1 30); do mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
  # A password-checked user for the wrong-password tests, allowed to back up.
  mariadb -h 127.0.0.1 -u root <<'SQL'
CREATE USER IF NOT EXISTS 'dbackup_pw'@'%' IDENTIFIED BY 'dbackup-test-pw';
CREATE USER IF NOT EXISTS 'dbackup_pw'@'localhost' IDENTIFIED BY 'dbackup-test-pw';
GRANT ALL PRIVILEGES ON *.* TO 'dbackup_pw'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'dbackup_pw'@'localhost';
SQL
}

install_valkey() {
  # Valkey 8 comes from bookworm-backports.
  if ! command -v valkey-server >/dev/null; then
    need_root
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/dbackup-backports.sources
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports valkey-server >/dev/null
  fi
}

install_tools() {
  # /usr/bin/python3 with cryptography runs the independent decryptor;
  # redis-server runs the Redis tests' private servers and loads snapshots.
  # prometheus brings promtool, which checks /metrics.
  apt_install python3 python3-cryptography redis-server redis-tools curl chromium zstd prometheus
  # The container image's build and test (make image): podman with runc
  # (crun refuses this host's cgroups) and debootstrap for its base.
  apt_install podman runc debootstrap
}

# The storage servers share one system user and its files under $SRV.
SRV=/srv/dbackup-test
STORE_USER=dbackup-store
STORE_PASSWORD=dbackup-test-pw

setup_store_user() {
  need_root
  if ! id "$STORE_USER" >/dev/null 2>&1; then
    useradd --system --create-home --home-dir "$SRV/home" --shell /bin/bash "$STORE_USER"
  fi
  echo "$STORE_USER:$STORE_PASSWORD" | chpasswd
  mkdir -p "$SRV/home" "$SRV/etc"
  chown "$STORE_USER:" "$SRV/home"
  # A tiny file system that fills up, for the full-destination tests.
  [ -L "$SRV/home/full" ] && rm "$SRV/home/full"
  mkdir -p "$SRV/home/full"
  if ! mountpoint -q "$SRV/home/full"; then
    mount -t tmpfs -o size=2m,mode=0755 tmpfs "$SRV/home/full"
  fi
  chown "$STORE_USER:" "$SRV/home/full"
}

start_sftp() {
  apt_install openssh-server openssh-client
  local dir=$SRV/etc/ssh
  mkdir -p "$dir/authorized"
  [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  [ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/client_ed25519"
  [ -f "$dir/client_protected" ] || ssh-keygen -q -t ed25519 -N 'key-passphrase' -f "$dir/client_protected"
  cat "$dir/client_ed25519.pub" "$dir/client_protected.pub" > "$dir/authorized/$STORE_USER"
  chmod 644 "$dir/authorized/$STORE_USER"
  cat > "$dir/sshd_config" <<CONF
Port 2222
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile /run/dbackup-test-sshd.pid
AuthorizedKeysFile $dir/authorized/%u
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
AllowUsers $STORE_USER
Subsystem sftp internal-sftp
MaxSessions 64
MaxStartups 64:30:128
CONF
  mkdir -p /run/sshd
  if ! (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null; then
    /usr/sbin/sshd -f "$dir/sshd_config"
  fi
}

start_webdav() {
  apt_install nginx libnginx-mod-http-dav-ext
  local dir=$SRV/etc/nginx
  mkdir -p "$dir" "$SRV/nginx-tmp"
  chown "$STORE_USER:" "$SRV/nginx-tmp"
  printf '%s:%s\n' "$STORE_USER" "$(openssl passwd -apr1 "$STORE_PASSWORD")" > "$dir/htpasswd"
  cat > "$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;
user $STORE_USER;
worker_processes 2;
pid /run/dbackup-test-nginx.pid;
error_log $dir/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $SRV/nginx-tmp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:8081;
    root $SRV/home;
    location / {
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_ext_methods PROPFIND OPTIONS;
      dav_access user:rw group:r all:r;
      auth_basic "dbackup-test";
      auth_basic_user_file $dir/htpasswd;
    }
  }
}
CONF
  if ! (exec 3<>/dev/tcp/127.0.0.1/8081) 2>/dev/null; then
    nginx -c "$dir/nginx.conf"
  fi
}

start_ftp() {
  apt_install vsftpd openssl
  local dir=$SRV/etc/ftp
  mkdir -p "$dir" /var/run/vsftpd/empty
  [ -f "$dir/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=127.0.0.1 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  cat > "$dir/vsftpd.conf" <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=2121
background=YES
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
force_dot_files=YES
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=30000
pasv_max_port=30999
seccomp_sandbox=NO
userlist_enable=NO
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
max_clients=200
max_per_ip=200
ssl_enable=YES
allow_anon_ssl=NO
force_local_data_ssl=NO
force_local_logins_ssl=NO
require_ssl_reuse=NO
ssl_ciphers=HIGH
rsa_cert_file=$dir/cert.pem
rsa_private_key_file=$dir/key.pem
CONF
  if ! (exec 3<>/dev/tcp/127.0.0.1/2121) 2>/dev/null; then
    vsftpd "$dir/vsftpd.conf"
  fi
}

start_smb() {
  apt_install samba smbclient
  local dir=$SRV/etc/samba
  mkdir -p "$dir"/{run,lock,state,cache,private}
  cat > "$dir/smb.conf" <<CONF
[global]
  interfaces = lo
  bind interfaces only = yes
  smb ports = 4450
  server min protocol = SMB2_10
  pid directory = $dir/run
  lock directory = $dir/lock
  state directory = $dir/state
  cache directory = $dir/cache
  private dir = $dir/private
  ncalogin = no
  log file = $dir/log.%m
  load printers = no
  disable spoolss = yes
  map to guest = never
  passdb backend = tdbsam
[backups]
  path = $SRV/home
  read only = no
  valid users = $STORE_USER
  force user = $STORE_USER
  hide dot files = no
CONF
  sed -i '/ncalogin/d' "$dir/smb.conf"
  printf '%s\n%s\n' "$STORE_PASSWORD" "$STORE_PASSWORD" | smbpasswd -c "$dir/smb.conf" -s -a "$STORE_USER" >/dev/null
  if ! (exec 3<>/dev/tcp/127.0.0.1/4450) 2>/dev/null; then
    smbd -D -s "$dir/smb.conf"
    for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/4450) 2>/dev/null && break; sleep 0.2; done
  fi
}

start_minio() {
  # A real S3 server; `go install` builds it once (about 5 minutes), then it is cached.
  local bin
  bin="$(go env GOPATH)/bin/minio"
  if [ ! -x "$bin" ]; then
    echo "building minio with go install (once, a few minutes)"
    GOFLAGS= go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
  fi
  # A second one on a 32 MiB file system, for the full-destination test.
  mkdir -p "$SRV/minio" "$SRV/minio-full"
  mountpoint -q "$SRV/minio-full" || mount -t tmpfs -o size=32m tmpfs "$SRV/minio-full"
  local port dir
  for port_dir in "9100:$SRV/minio" "9102:$SRV/minio-full"; do
    port=${port_dir%%:*}; dir=${port_dir#*:}
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
      MINIO_ROOT_USER=dbackup-minio MINIO_ROOT_PASSWORD=dbackup-minio-secret MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
        MINIO_BROWSER=off nohup "$bin" server --quiet --address 127.0.0.1:"$port" --console-address 127.0.0.1:$((port + 1)) "$dir" \
        > "$SRV/etc/minio-$port.log" 2>&1 &
    fi
    for _ in $(seq 1 60); do curl -fs http://127.0.0.1:"$port"/minio/health/live >/dev/null && break; sleep 0.5; done
  done
}

start_postgres
start_mariadb
install_tools
install_valkey
setup_store_user
start_sftp
start_webdav
start_ftp
start_smb
start_minio
echo "services ready: postgresql 127.0.0.1:5432, mariadb 127.0.0.1:3306, sftp 127.0.0.1:2222, webdav 127.0.0.1:8081, ftp 127.0.0.1:2121, smb 127.0.0.1:4450, minio 127.0.0.1:9100"
