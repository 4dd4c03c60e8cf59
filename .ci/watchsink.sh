#!/usr/bin/env bash
# A Postfix mail sink on loopback for `mxray watch`'s alert mail (issue 18):
#
#   .ci/watchsink.sh install      install Postfix (through .ci/postfix.sh install)
#   .ci/watchsink.sh start DIR    (re)start a private instance under DIR:
#       127.0.63.1:2525  accepts mail for sink.test only and delivers every message, whatever
#                        the local part, to one mbox file: DIR/mail/inbox (the virtual delivery
#                        agent, as user nobody). Every other domain is refused (no relaying).
#   .ci/watchsink.sh stop DIR     stop exactly that instance
#
# Like .ci/postfix.sh it never reaches outside: no DNS, no smtp/lmtp client in master.cf,
# every other transport is 'discard'. Logs to DIR/maillog.
set -euo pipefail

ADDR=127.0.63.1
PORT=2525
MARKER="# mxray watch mail sink (.ci/watchsink.sh)"

die() { echo "watchsink.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root"; }

master_pid() { # $1 = config dir
  local q pid
  q=$(postconf -c "$1" -h queue_directory 2>/dev/null) || return 0
  [ -r "$q/pid/master.pid" ] || return 0
  pid=$(tr -dc '0-9' < "$q/pid/master.pid")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] && echo "$pid"
  return 0
}

stop_instance() { # $1 = DIR
  local conf=$1/conf pid
  [ -f "$conf/main.cf" ] && head -n 1 "$conf/main.cf" | grep -qF "$MARKER" || return 0
  pid=$(master_pid "$conf")
  [ -n "$pid" ] || return 0
  postfix -c "$conf" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  postfix -c "$conf" abort >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
}

banner() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$ADDR/$PORT || exit 1
    IFS= read -r line <&3 || exit 1
    printf 'QUIT\r\n' >&3
    printf '%s\n' \"\${line%\$'\r'}\"" 2>/dev/null
}

start() {
  local dir=$1 conf spool data mail log out b=""
  need_root start
  command -v postfix >/dev/null 2>&1 || die "postfix is not installed (run: $0 install)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  stop_instance "$dir"
  if timeout 2 bash -c "exec 3<>/dev/tcp/$ADDR/$PORT" 2>/dev/null; then
    die "$ADDR:$PORT is already in use by another process"
  fi
  conf=$dir/conf spool=$dir/spool data=$dir/data mail=$dir/mail log=$dir/maillog
  rm -rf "$conf"
  mkdir -p "$conf" "$spool" "$data" "$mail"
  chmod go+rx "$dir"
  chown root:root "$conf" "$spool"
  chmod 755 "$conf" "$spool"
  chown postfix:postfix "$data"
  chmod 700 "$data"
  chown nobody:nogroup "$mail"
  chmod 755 "$mail"
  : > "$log"

  cat > "$conf/main.cf" <<CF
$MARKER
compatibility_level = 3.6
queue_directory = $spool
data_directory = $data
mail_owner = postfix
setgid_group = postdrop
myhostname = sink.lab
mydomain = sink.lab
myorigin = \$myhostname
mydestination =
smtpd_banner = \$myhostname ESMTP mxray watch sink
biff = no
append_dot_mydomain = no

# No client is trusted: only mail for sink.test is accepted.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_recipient_maps =
alias_maps =
alias_database =
smtpd_tls_security_level =
smtpd_error_sleep_time = 0

# Every recipient at sink.test goes to one mbox file, DIR/mail/inbox, written as nobody.
virtual_mailbox_domains = sink.test
virtual_mailbox_base = $mail
virtual_mailbox_maps = static:inbox
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(id -g nobody)
virtual_minimum_uid = 1
virtual_transport = virtual

inet_interfaces = loopback-only
inet_protocols = ipv4
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
relayhost =
default_transport = discard
relay_transport = discard
local_transport = discard
fallback_transport =
transport_maps =

maillog_file_prefixes = $dir
maillog_file = $log
CF

  cat > "$conf/master.cf" <<CF
$MARKER
# service        type  private unpriv chroot wakeup maxproc command
$ADDR:$PORT      inet  n       -      n      -      -       smtpd
pickup           unix  n       -      n      60     1       pickup
cleanup          unix  n       -      n      -      0       cleanup
qmgr             unix  n       -      n      300    1       qmgr
rewrite          unix  -       -      n      -      -       trivial-rewrite
bounce           unix  -       -      n      -      0       bounce
defer            unix  -       -      n      -      0       bounce
trace            unix  -       -      n      -      0       bounce
verify           unix  -       -      n      -      1       verify
flush            unix  n       -      n      1000?  0       flush
proxymap         unix  -       -      n      -      -       proxymap
proxywrite       unix  -       -      n      -      1       proxymap
showq            unix  n       -      n      -      -       showq
error            unix  -       -      n      -      -       error
retry            unix  -       -      n      -      -       error
discard          unix  -       -      n      -      -       discard
virtual          unix  -       n      n      -      -       virtual
anvil            unix  -       -      n      -      1       anvil
scache           unix  -       -      n      -      1       scache
postlog          unix-dgram n  -      n      -      1       postlogd
CF
  touch -d '-10 seconds' "$conf/main.cf" "$conf/master.cf"
  runuser -u postfix -- test -r "$conf/main.cf" \
    || die "user postfix cannot read $conf/main.cf (is a parent of $dir closed to others?)"
  if ! out=$(postfix -c "$conf" start 2>&1); then
    echo "$out" >&2; tail -n 20 "$log" >&2; die "postfix start failed"
  fi
  for _ in $(seq 1 100); do
    b=$(banner || true)
    case "$b" in "220 sink.lab "*) break ;; esac
    sleep 0.1
  done
  case "$b" in
    "220 sink.lab "*) ;;
    *) tail -n 20 "$log" >&2; die "the sink did not answer ('$b')" ;;
  esac
  echo "watch mail sink up: $ADDR:$PORT, mail for sink.test in $mail/inbox (log $log)"
}

case "${1:-}" in
  install) bash "$(dirname "$0")/postfix.sh" install ;;
  start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
  stop)
    [ -n "${2:-}" ] || die "usage: $0 stop DIR"
    need_root stop
    [ -d "$2" ] || { echo "watch sink: no instance in $2"; exit 0; }
    stop_instance "$(cd "$2" && pwd -P)"
    echo "watch sink stopped ($2)" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
