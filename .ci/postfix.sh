#!/usr/bin/env bash
# A private Postfix on loopback for mxray's integration tests (Debian's package).
#   .ci/postfix.sh install      install the package without starting any system daemon
#   .ci/postfix.sh start DIR    start an instance configured under DIR:
#       127.0.25.1:2525  closed relay (mynetworks excludes loopback; relaying refused)
#       127.0.25.2:2525  open relay   (mynetworks = 0.0.0.0/0)
#   .ci/postfix.sh stop DIR     stop exactly that instance
# It never reaches outside: no DNS, no relayhost, every transport is 'discard'.
set -euo pipefail
cmd=${1:-}
dir=${2:-}

install() {
  if command -v postfix >/dev/null 2>&1; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' RETURN
  apt-get install -y -q postfix >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postfix >/dev/null; }
}

start() {
  [ -n "$dir" ] || { echo "usage: $0 start DIR" >&2; exit 2; }
  stop_quiet
  mkdir -p "$dir/spool" "$dir/data"
  chmod 755 "$dir"
  chown postfix "$dir/data"
  cat > "$dir/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mxray-closed.lab
mydomain = mxray-closed.lab
mydestination = \$myhostname, mxray-open.lab
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP Postfix (mxray test)
# Never contact the outside world.
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
default_transport = discard
relay_transport = discard
local_transport = discard
virtual_transport = discard
relayhost =
alias_maps =
alias_database =
local_recipient_maps = inline:{postmaster=postmaster}
smtpd_error_sleep_time = 0
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
CF
  # Debian's master.cf without its public smtp listener, plus our two loopback listeners.
  grep -v '^smtp[[:space:]]*inet' /etc/postfix/master.cf > "$dir/master.cf"
  grep -q '^postlog' "$dir/master.cf" || echo "postlog   unix-dgram n  -       n       -       1       postlogd" >> "$dir/master.cf"
  cat >> "$dir/master.cf" <<CF
127.0.25.1:2525 inet n  -       n       -       -       smtpd
127.0.25.2:2525 inet n  -       n       -       -       smtpd
  -o myhostname=mxray-open.lab
  -o mynetworks=0.0.0.0/0
CF
  # Postfix listens only on addresses present on an interface; remember what we add.
  : > "$dir/added-addresses"
  for a in 127.0.25.1 127.0.25.2; do
    if ! ip -4 addr show dev lo | grep -q "inet $a/"; then
      ip addr add "$a/32" dev lo && echo "$a" >> "$dir/added-addresses"
    fi
  done
  postfix -c "$dir" set-permissions >/dev/null 2>&1 || true
  postfix -c "$dir" check
  postfix -c "$dir" start >/dev/null 2>&1
  for _ in $(seq 1 50); do
    if exec 3<>/dev/tcp/127.0.25.2/2525 2>/dev/null; then exec 3>&-; break; fi
    sleep 0.2
  done
  echo "postfix lab up: closed=127.0.25.1:2525 open=127.0.25.2:2525 (config $dir)"
}

stop_quiet() {
  [ -f "$dir/main.cf" ] && postfix -c "$dir" stop >/dev/null 2>&1 || true
  if [ -f "$dir/added-addresses" ]; then
    while read -r a; do ip addr del "$a/32" dev lo 2>/dev/null || true; done < "$dir/added-addresses"
    rm -f "$dir/added-addresses"
  fi
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop_quiet; echo "postfix lab stopped" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
