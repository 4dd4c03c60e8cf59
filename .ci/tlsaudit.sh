#!/usr/bin/env bash
# A private Postfix (Debian's package) on loopback with one legacy and one modern TLS set-up,
# for the TLS version and cipher audit (crates/cli/tests/integration/tls_audit.rs):
#
#   127.0.43.1:2525  "mxray-tlsweak.lab"    STARTTLS; TLS 1.0 and up, every suite OpenSSL has,
#   127.0.43.1:4465                         NULL and anonymous ones included (@SECLEVEL=0);
#                                           4465 is TLS from the first byte (wrapper mode)
#   127.0.43.2:2525  "mxray-tlsmodern.lab"  STARTTLS; TLS 1.2 and 1.3 only, HIGH suites,
#   127.0.43.2:4465                         no anonymous ones; 4465 in wrapper mode
#
#   .ci/tlsaudit.sh install      install Postfix (through .ci/postfix.sh) and openssl
#   .ci/tlsaudit.sh start DIR    (re)start the instance living under DIR
#   .ci/tlsaudit.sh stop DIR     stop exactly that instance
#
# The OpenSSL security level is lowered in the weak listener's cipher list only
# (`-o tls_low_cipherlist=...@SECLEVEL=0`), never system-wide.
#
# What Debian 12's OpenSSL 3.0 allows (checked by hand with `openssl ciphers -V` and
# `openssl s_client` against this instance):
# - TLS 1.0 and 1.1 need security level 0 (SHA-1/MD5 in their PRF and signatures).
# - No RC4 and no 3DES suite exists at all, with or without the legacy provider (the build
#   has no weak-ssl-ciphers and no 3DES in libssl: `openssl ciphers 3DES` finds nothing).
#   The weak suites a real server can be made to accept here are NULL (eNULL) and anonymous
#   (aNULL) ones; export suites are gone since OpenSSL 1.1.0. RC4, 3DES and export answers
#   are covered by the unit tests of core::tlsprobe and the checks instead.
# - SSL 3.0 is not built (no-ssl3-method).
#
# Never reaches outside: no DNS, every transport is 'discard' (as .ci/postfix.sh).
source "$(dirname "$0")/lib-servers.sh"

WEAK=127.0.43.1
MODERN=127.0.43.2
STARTTLS_PORT=2525
WRAPPER_PORT=4465
MARKER="# mxray lab instance (.ci/tlsaudit.sh)"

die() { echo "tlsaudit.sh: $*" >&2; exit 1; }

stop_instance() { # $1 = DIR
    [ -f "$1/conf/main.cf" ] || return 0
    postfix_stop_conf "$1/conf"
}

# The version `openssl s_client` negotiates with $1:$2 (STARTTLS when $3 = smtp), empty when
# the handshake fails (s_client then still prints "Cipher is (NONE)").
negotiated() {
    local st=() out
    [ "${3:-}" = smtp ] && st=(-starttls smtp)
    out=$(timeout 10 openssl s_client -connect "$1:$2" "${st[@]}" "${@:4}" </dev/null 2>/dev/null) || true
    case "$out" in *"Cipher is (NONE)"*) return 0 ;; esac
    printf '%s\n' "$out" | sed -n 's/^New, \(TLSv[0-9.]*\), Cipher is .*/\1/p' | head -n 1
}

start() {
    local dir=$1 conf log
    [ "$(id -u)" = 0 ] || die "start must run as root"
    command -v postfix >/dev/null 2>&1 || die "postfix is not installed (run: $0 install)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    stop_instance "$dir"
    for a in "$WEAK" "$MODERN"; do
        for p in "$STARTTLS_PORT" "$WRAPPER_PORT"; do
            if port_busy "$a" "$p"; then die "$a:$p is already in use"; fi
        done
    done
    conf=$dir/conf log=$dir/maillog
    rm -rf "$conf"
    postfix_prepare "$dir"
    self_signed "$dir"

    {
        echo "$MARKER"
        postfix_main_base "$dir"
        cat <<CF
virtual_transport = discard
myhostname = mxray-tlsmodern.lab
mydomain = mxray-tlsmodern.lab
mydestination = mxray-tlsweak.lab, mxray-tlsmodern.lab, localhost
smtpd_banner = \$myhostname ESMTP \$mail_name
biff = no
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_recipient_maps = inline:{postmaster=postmaster}
alias_maps =
alias_database =
smtpd_error_sleep_time = 0

# TLS: the modern set-up; the weak listeners override it in master.cf.
smtpd_tls_cert_file = $dir/cert.pem
smtpd_tls_key_file = $dir/key.pem
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_ciphers = high
smtpd_tls_mandatory_ciphers = high
smtpd_tls_exclude_ciphers = aNULL, eNULL
smtpd_tls_loglevel = 1
CF
    } > "$conf/main.cf"

    # Weak: TLS 1.0 up, every suite including NULL and anonymous ones, security level 0.
    local weak_opts="
  -o myhostname=mxray-tlsweak.lab
  -o smtpd_tls_protocols=>=TLSv1
  -o smtpd_tls_mandatory_protocols=>=TLSv1
  -o smtpd_tls_ciphers=low
  -o smtpd_tls_mandatory_ciphers=low
  -o smtpd_tls_exclude_ciphers=
  -o { tls_low_cipherlist = ALL:eNULL:@SECLEVEL=0 }"
    {
        cat <<CF
$MARKER
$WEAK:$STARTTLS_PORT   inet n - n - - smtpd$weak_opts
$WEAK:$WRAPPER_PORT   inet n - n - - smtpd$weak_opts
  -o smtpd_tls_wrappermode=yes
$MODERN:$STARTTLS_PORT inet n - n - - smtpd
$MODERN:$WRAPPER_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
tlsmgr     unix  - - n 1000? 1 tlsmgr
CF
        postfix_master_base
    } > "$conf/master.cf"
    postfix_start_conf "$conf" "$log"
    for a in "$WEAK" "$MODERN"; do
        wait_port "$a" "$STARTTLS_PORT"; wait_port "$a" "$WRAPPER_PORT"
    done
    # The set-up really is what the tests expect (else fail here, not in a test).
    local w m
    w=$(negotiated "$WEAK" "$STARTTLS_PORT" smtp -tls1 -cipher 'ALL:@SECLEVEL=0')
    m=$(negotiated "$MODERN" "$STARTTLS_PORT" smtp -tls1 -cipher 'ALL:@SECLEVEL=0')
    [ "$w" = TLSv1.0 ] || { tail -n 20 "$log" >&2; die "weak listener did not accept TLS 1.0 ('$w')"; }
    [ -z "$m" ] || die "modern listener accepted TLS 1.0 ('$m')"
    w=$(negotiated "$WEAK" "$WRAPPER_PORT" "" -tls1 -cipher 'ALL:@SECLEVEL=0')
    [ "$w" = TLSv1.0 ] || die "weak wrapper-mode listener did not accept TLS 1.0 ('$w')"
    m=$(negotiated "$MODERN" "$WRAPPER_PORT" "")
    [ "$m" = TLSv1.3 ] || die "modern wrapper-mode listener did not speak TLS 1.3 ('$m')"
    echo "tlsaudit lab up: weak=$WEAK modern=$MODERN ports $STARTTLS_PORT (STARTTLS), $WRAPPER_PORT (implicit TLS); dir $dir"
}

case "${1:-}" in
install)
    bash "$(dirname "$0")/postfix.sh" install
    install_packages openssl openssl
    ;;
start) start "${2:?usage: tlsaudit.sh start DIR}" ;;
stop)
    d=${2:?usage: tlsaudit.sh stop DIR}
    [ -d "$d" ] || exit 0
    stop_instance "$(cd "$d" && pwd -P)"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
