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
source "$(dirname "$0")/lib-servers.sh"

ADDR=127.0.63.1
PORT=2525
MARKER="# mxray watch mail sink (.ci/watchsink.sh)"

die() { echo "watchsink.sh: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root"; }

stop_instance() { # $1 = DIR
  local conf=$1/conf
  [ -f "$conf/main.cf" ] && head -n 1 "$conf/main.cf" | grep -qF "$MARKER" || return 0
  postfix_stop_conf "$conf"
}

start() {
  local dir=$1 conf mail log b=""
  need_root start
  command -v postfix >/dev/null 2>&1 || die "postfix is not installed (run: $0 install)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  stop_instance "$dir"
  if port_busy "$ADDR" "$PORT"; then
    die "$ADDR:$PORT is already in use by another process"
  fi
  conf=$dir/conf mail=$dir/mail log=$dir/maillog
  rm -rf "$conf"
  postfix_prepare "$dir"
  mkdir -p "$mail"
  chown nobody:nogroup "$mail"
  chmod 755 "$mail"

  {
    echo "$MARKER"
    postfix_main_base "$dir"
    cat <<CF
fallback_transport =
transport_maps =
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
CF
  } > "$conf/main.cf"

  {
    echo "$MARKER"
    echo "$ADDR:$PORT inet n - n - - smtpd"
    postfix_master_base
    echo "proxywrite unix  - - n - 1 proxymap"
    echo "virtual    unix  - n n - - virtual"
  } > "$conf/master.cf"
  postfix_start_conf "$conf" "$log"
  if ! b=$(wait_banner "$ADDR" "$PORT" "220 sink.lab "); then
    tail -n 20 "$log" >&2; die "the sink did not answer ('$b')"
  fi
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
