#!/usr/bin/env bash
# A private Postfix (Debian's package) on loopback for mxray's CI and integration tests.
#
#   .ci/postfix.sh install      install the package without starting any system daemon
#   .ci/postfix.sh start DIR    (re)start a private instance living entirely under DIR:
#       127.0.25.1:2525  closed relay "mxray-closed.lab" (mynetworks excludes loopback:
#                        RCPT to an outside domain gets "554 5.7.1 ... Relay access denied")
#       127.0.25.2:2525  open relay   "mxray-open.lab"   (mynetworks = 0.0.0.0/0)
#   The closed listener greets with Debian's stock banner (`$myhostname ESMTP $mail_name
#   (Debian/GNU)`: no version); the open one adds `$mail_version`, as some operators do, so
#   the fingerprint tests see a real Postfix version.
#   .ci/postfix.sh stop DIR     stop exactly that instance
#
# Layout of DIR: conf/ (config_directory: main.cf, master.cf), spool/ (queue_directory),
# data/ (data_directory), maillog (the log: there is no syslog here, so maillog_file/postlogd).
#
# It never reaches outside: no DNS (disable_dns_lookups, smtp_dns_support_level = disabled,
# smtpd_peername_lookup = no), no relayhost, every transport is 'discard', and master.cf has
# no smtp/lmtp client service at all. No STARTTLS is offered.
#
# Notes (Postfix 3.7 on Debian 12, checked by hand):
# - `postfix -c DIR` run by root needs neither alternate_config_directories nor a default
#   /etc/postfix/main.cf (only set-gid tools such as postdrop/postqueue check that list).
# - A master.cf service written as IP:port binds that address directly; the address need
#   not be on an interface (only inet_interfaces is checked against interfaces), and Linux
#   routes all of 127/8 to lo. So nothing is added to lo.
source "$(dirname "$0")/lib-servers.sh"

CLOSED=127.0.25.1
OPEN=127.0.25.2
PORT=2525
MARKER="# mxray lab instance (.ci/postfix.sh)"

die() { echo "postfix.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "$1 must run as root"; }

# ---------------------------------------------------------------- install
install() {
  if command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ]; then return 0; fi
  need_root install
  export DEBIAN_FRONTEND=noninteractive
  local log policy=/usr/sbin/policy-rc.d backup=""
  log=$(mktemp /tmp/postfix-install.XXXXXX.log)
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # Forbid maintainer scripts to start any daemon; restore whatever was there before.
  if [ -e "$policy" ]; then backup=$(mktemp /tmp/policy-rc.d.XXXXXX) && cp -p "$policy" "$backup"; fi
  # shellcheck disable=SC2064
  trap "if [ -n '$backup' ]; then mv -f '$backup' '$policy'; else rm -f '$policy'; fi" EXIT
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"

  local updated=0
  # apt-get update only when the package lists know no postfix (fresh machine) ...
  if ! apt-cache policy postfix 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -q >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "apt-get update failed"; }
    updated=1
  fi
  if ! apt-get install -y -q --no-install-recommends postfix >>"$log" 2>&1; then
    # ... or when the lists are stale (the .deb they name is gone from the mirror).
    [ "$updated" = 1 ] || apt-get update -q >>"$log" 2>&1 || true
    apt-get install -y -q --no-install-recommends postfix >>"$log" 2>&1 \
      || { tail -n 30 "$log" >&2; die "apt-get install postfix failed (log: $log)"; }
  fi
  rm -f "$log"
  command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ] || die "postfix still not installed"
}

# ---------------------------------------------------------------- helpers
# The config directory of the instance in DIR ("" if none). DIR itself is accepted too,
# for instances made by an earlier version of this script.
conf_of() {
  if [ -f "$1/conf/main.cf" ]; then echo "$1/conf"
  elif [ -f "$1/main.cf" ]; then echo "$1"
  fi
}

# Prints the config directories of all running Postfix masters (for error messages).
running_masters() {
  local p env
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = master ] || continue
    env=$(tr '\0' '\n' < "$p/environ" 2>/dev/null | sed -n 's/^MAIL_CONFIG=//p')
    if [ -n "$env" ] && head -n 1 "$env/main.cf" 2>/dev/null | grep -qF "$MARKER"; then
      echo "  pid ${p#/proc/}: config $env (made by this script; stop it with: $0 stop ${env%/conf})"
    else
      echo "  pid ${p#/proc/}: config ${env:-/etc/postfix}"
    fi
  done
}

stop_instance() { # $1 = DIR; quiet; returns when the master is gone
  local dir=$1 conf a
  conf=$(conf_of "$dir")
  [ -z "$conf" ] || postfix_stop_conf "$conf"
  # Addresses an earlier version of this script added to lo (exactly those, nothing else).
  if [ -f "$dir/added-addresses" ]; then
    while read -r a; do
      [ -n "$a" ] && ip addr del "$a/32" dev lo 2>/dev/null || true
    done < "$dir/added-addresses"
    rm -f "$dir/added-addresses"
  fi
}

# ---------------------------------------------------------------- start
start() {
  local dir=$1 conf log
  need_root start
  command -v postfix >/dev/null 2>&1 || die "postfix is not installed (run: $0 install)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  stop_instance "$dir"

  for a in "$CLOSED" "$OPEN"; do
    if port_busy "$a" "$PORT"; then
      die "$a:$PORT is already in use by another process; running Postfix masters:
$(running_masters)"
    fi
  done

  conf=$dir/conf log=$dir/maillog
  rm -rf "$conf"
  postfix_prepare "$dir"

  {
    echo "$MARKER"
    postfix_main_base "$dir"
    cat <<CF
virtual_transport = discard
fallback_transport =
transport_maps =

# Identity of the closed listener (the open one overrides myhostname in master.cf).
myhostname = mxray-closed.lab
mydomain = mxray-closed.lab
myorigin = \$myhostname
mydestination = mxray-closed.lab, mxray-open.lab, localhost
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no

# Closed relay: loopback clients are NOT in mynetworks.
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# Unknown local users get "550 5.1.1 ... User unknown in local recipient table".
local_recipient_maps = inline:{postmaster=postmaster, abuse=abuse}
alias_maps =
alias_database =
smtpd_tls_security_level =
smtpd_error_sleep_time = 0

# Listeners are given explicitly in master.cf; inet_interfaces (loopback-only) only names
# "our" addresses. Never contacting the outside world and logging to a file through postlogd
# (no syslog here) come from postfix_main_base (.ci/lib-servers.sh).
CF
  } > "$conf/main.cf"

  # A complete master.cf of our own: no chroot (nothing to copy into the spool), no
  # public port 25, no smtp/lmtp client (mail can only be discarded).
  {
    cat <<CF
$MARKER
# service        type  private unpriv chroot wakeup maxproc command
$CLOSED:$PORT    inet  n       -      n      -      -       smtpd
$OPEN:$PORT    inet  n       -      n      -      -       smtpd
  -o myhostname=mxray-open.lab
  -o mynetworks=0.0.0.0/0
  -o { smtpd_banner = \$myhostname ESMTP \$mail_name \$mail_version (Debian/GNU) }
proxywrite unix  - - n - 1 proxymap
CF
    postfix_master_base
  } > "$conf/master.cf"

  # Back-dates the files (Postfix waits ~2 s after a fresh edit), checks that the postfix
  # user can read them, and starts master ('start' runs 'postfix check').
  postfix_start_conf "$conf" "$log"

  local b1="" b2="" ok=1
  b1=$(wait_banner "$CLOSED" "$PORT" "220 mxray-closed.lab ") || ok=0
  b2=$(wait_banner "$OPEN" "$PORT" "220 mxray-open.lab ") || ok=0
  if [ "$ok" = 0 ]; then
    tail -n 20 "$log" >&2
    die "listeners did not answer (closed: '${b1}', open: '${b2}')"
  fi
  echo "postfix lab up: closed=$CLOSED:$PORT open=$OPEN:$PORT (dir $dir, log $log)"
}

# ---------------------------------------------------------------- main
case "${1:-}" in
  install) install ;;
  start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
  stop)
    [ -n "${2:-}" ] || die "usage: $0 stop DIR"
    need_root stop
    [ -d "$2" ] || { echo "postfix lab: no instance in $2"; exit 0; }
    stop_instance "$(cd "$2" && pwd -P)"
    echo "postfix lab stopped ($2)" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
