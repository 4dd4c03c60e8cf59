# Shared helpers for .ci/<server>.sh: idempotent installation from Debian's packages without
# letting a package start its system-wide daemon, and a self-signed certificate per test dir.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# install_packages BINARY PACKAGE...: installs PACKAGEs unless BINARY is already there.
install_packages() {
    local bin=$1; shift
    if command -v "$bin" >/dev/null 2>&1; then return 0; fi
    local rc=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$rc" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$rc"; chmod 755 "$rc"; created=1
    fi
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$@" >/dev/null
    if [ "$created" = 1 ]; then rm -f "$rc"; fi
}

# self_signed DIR: DIR/cert.pem and DIR/key.pem for CN mxray-test.lab (30 days).
self_signed() {
    [ -s "$1/cert.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=mxray-test.lab \
        -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
    chmod 644 "$1/cert.pem" "$1/key.pem"
}

# wait_port IP PORT: until something listens (10 s at most).
wait_port() {
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "nothing listens on $1:$2" >&2; return 1
}

# stop_pidfile FILE: stops the process whose PID is in FILE (only that one).
stop_pidfile() {
    [ -s "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# die MESSAGE: the error exit of the scripts; each script may redefine it with its own prefix.
die() { echo "${0##*/}: $*" >&2; exit 1; }

# port_busy IP PORT: true if something accepts TCP on IP:PORT (2 s at most).
port_busy() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# smtp_banner IP PORT: the first line the server sends, CR stripped, then QUIT (3 s at most).
smtp_banner() {
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2 || exit 1
      IFS= read -r line <&3 || exit 1
      printf 'QUIT\r\n' >&3
      printf '%s\n' \"\${line%\$'\r'}\"" 2>/dev/null
}

# wait_banner IP PORT PREFIX: until the server's first line starts with PREFIX (10 s at most);
# prints the last line read; fails if it never matched.
wait_banner() {
    local b=""
    for _ in $(seq 1 100); do
        b=$(smtp_banner "$1" "$2" || true)
        case "$b" in "$3"*) echo "$b"; return 0 ;; esac
        sleep 0.1
    done
    echo "$b"; return 1
}

# ---------------------------------------------------------------- private Postfix instances
# An instance lives in one directory BASE: BASE/conf (config_directory: main.cf, master.cf),
# BASE/spool (queue_directory), BASE/data (data_directory), BASE/maillog (no syslog here:
# maillog_file through postlogd).

# postfix_master_pid CONF: the live master PID of the instance configured in CONF, if any.
postfix_master_pid() {
    local q pid
    q=$(postconf -c "$1" -h queue_directory 2>/dev/null) || return 0
    [ -r "$q/pid/master.pid" ] || return 0
    pid=$(tr -dc '0-9' < "$q/pid/master.pid")
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] \
        && echo "$pid"
    return 0
}

# postfix_stop_conf CONF: stops that instance's master (only that PID); quiet; returns when it
# is gone (postfix stop, then abort or kill -9 after 10 s).
postfix_stop_conf() {
    local conf=$1 pid
    pid=$(postfix_master_pid "$conf")
    [ -n "$pid" ] || return 0
    postfix -c "$conf" stop >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    postfix -c "$conf" abort >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    return 0
}

# postfix_prepare BASE: makes conf/, spool/, data/ with the owners and modes Postfix wants
# (postfix-script wants conf/ and spool/ owned by root and not group/other-writable; the
# postfix user must reach BASE) and empties BASE/maillog.
postfix_prepare() {
    local b=$1
    mkdir -p "$b/conf" "$b/spool" "$b/data"
    chmod go+rx "$b"
    chown root:root "$b/conf" "$b/spool"
    chmod 755 "$b/conf" "$b/spool"
    chown postfix:postfix "$b/data"
    chmod 700 "$b/data"
    : > "$b/maillog"
}

# postfix_main_base BASE: the main.cf lines every instance shares: its own directories, the
# owners, loopback only, never reaching outside (no DNS, no relayhost, transports 'discard'),
# and logging to BASE/maillog. Callers append their own settings (and may add
# virtual_transport, fallback_transport, transport_maps).
postfix_main_base() {
    local b=$1
    cat <<CF
compatibility_level = 3.6
queue_directory = $b/spool
data_directory = $b/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
relayhost =
default_transport = discard
relay_transport = discard
local_transport = discard
maillog_file_prefixes = $b
maillog_file = $b/maillog
CF
}

# postfix_master_base: the master.cf service lines every instance shares (no chroot, no
# smtp/lmtp client); callers add their listeners and any further services.
postfix_master_base() {
    cat <<'CF'
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
CF
}

# postfix_start_conf CONF LOG: back-dates main.cf/master.cf (Postfix waits ~2 s after a fresh
# edit), checks that the postfix user can read them, and starts the instance ('start' runs
# 'postfix check', which creates the queue directories). Dies with the log's tail on failure.
postfix_start_conf() {
    local conf=$1 log=$2 out
    touch -d '-10 seconds' "$conf/main.cf" "$conf/master.cf"
    runuser -u postfix -- test -r "$conf/main.cf" \
        || die "user postfix cannot read $conf/main.cf (is a parent directory closed to others?)"
    if ! out=$(postfix -c "$conf" start 2>&1); then
        echo "$out" >&2; tail -n 20 "$log" >&2; die "postfix start failed"
    fi
}

# ---------------------------------------------------------------- private sshd instances
# sshd_start DIR IP PORT: (re)starts `sshd -D` on IP:PORT with its own config and throw-away
# ed25519 host key in DIR; nobody can log in (no password, no keyboard-interactive, no keys,
# DenyUsers *). PID in DIR/sshd.pid.
sshd_start() {
    local d=$1 ip=$2 port=$3
    mkdir -p "$d"; chmod 755 "$d"
    stop_pidfile "$d/sshd.pid"
    [ -s "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mxray-test -f "$d/host_ed25519"
    # sshd wants its privilege-separation directory; remember whether we made it.
    if [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd && echo 1 > "$d/made-run-sshd"; fi
    cat > "$d/sshd_config" <<CONF
ListenAddress $ip:$port
AddressFamily inet
HostKey $d/host_ed25519
PidFile none
UsePAM no
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
AuthorizedKeysFile none
DenyUsers *
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
UseDNS no
LoginGraceTime 10
MaxStartups 20:30:60
LogLevel INFO
CONF
    /usr/sbin/sshd -t -f "$d/sshd_config"
    /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" </dev/null >/dev/null 2>&1 &
    echo $! > "$d/sshd.pid"
    wait_port "$ip" "$port"
}

# sshd_stop DIR: stops the sshd that sshd_start DIR started (only that PID).
sshd_stop() {
    local d=$1
    stop_pidfile "$d/sshd.pid"
    if [ -f "$d/made-run-sshd" ]; then rmdir /run/sshd 2>/dev/null || true; rm -f "$d/made-run-sshd"; fi
}

# A random password (20 letters and digits) for a lab account.
rand() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20; }

# dovecot_mailbox_conf DIR INSTANCE IP ROOT [EXTRA]: prints a Dovecot configuration for lab
# mailboxes: IMAP 143 and POP3 110 on IP without TLS, plaintext logins, accounts from the
# passwd-file ROOT/users, maildirs under ROOT/mail/<user>, LMTP for Postfix (socket
# lmtp-postfix), state and logs under DIR. EXTRA (settings or service blocks) is appended.
dovecot_mailbox_conf() {
    local d=$1 name=$2 ip=$3 root=$4 extra=${5:-}
    cat <<CONF
# mxray lab $name (${0##*/})
instance_name = $name
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap pop3 lmtp
listen = $ip
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$root/mail/%u
passdb {
  driver = passwd-file
  args = $root/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$root/mail/%u
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp-postfix {
    mode = 0666
  }
}
$extra
CONF
}
