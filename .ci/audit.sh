#!/usr/bin/env bash
# Own servers for `mxray audit` (crates/cli/tests/integration/audit.rs): Dovecot mailboxes and
# Postfix SASL submission on loopback, one pair without login protection and one with it.
#
#   127.0.62.1  "open"     Dovecot IMAP 143 / POP3 110, auth_failure_delay = 0 and the anvil
#                          auth penalty off (its anvil-auth-penalty socket at mode 0: the
#                          auth process cannot reach it, Dovecot's documented way);
#                          Postfix submission 587, SASL through that Dovecot, no anvil limits.
#   127.0.62.2  "guarded"  Dovecot IMAP 143 / POP3 110, auth_failure_delay = 2 s and the anvil
#                          auth penalty (Dovecot's defaults); Postfix submission 587, SASL
#                          through that Dovecot, smtpd_client_auth_rate_limit = 3 per minute.
#   127.0.62.3:25  Postfix, open relay (mynetworks = 0.0.0.0/0)     } canary.lab is "outside":
#   127.0.62.4:25  Postfix, closed (loopback not in mynetworks)     } relayed over LMTP to .1
#
# Both Dovecots read the same passwd-file, DIR/users (accounts of the weak-password test):
#   throttle@audit.lab  a long random password (the login-protection test account: only wrong
#                       passwords are ever sent for it)
#   alice@audit.lab     password = the user name          (weak)
#   bob@audit.lab       password = the local part          (weak)
#   carol@audit.lab     a password from crates/core/data/weak-passwords.txt (weak)
#   dave@audit.lab      a long random password              (strong)
#   canary@canary.lab   the canary mailbox of the relay confirmation (a domain outside
#                       audit.lab, delivered by Postfix over LMTP into the open Dovecot)
# Random passwords are written to DIR/passwords.env (mode 600) for the tests' scope files.
#
# Nothing reaches outside: Postfix has no DNS, no relayhost and discards every transport.
# The addresses are NOT added to lo: clients connect from 127.0.0.1, so Dovecot does not
# treat them as local (see /work/shared/NOTES.md).
#
#   .ci/audit.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

die() { echo "audit.sh: $*" >&2; exit 1; }

# dovecot_conf DIR NAME IP DELAY PENALTY_SOCKET_MODE
dovecot_conf() {
    local d=$1/$2 ip=$3 delay=$4 penalty=$5
    mkdir -p "$d/run" "$d/state"
    chmod 755 "$d"
    dovecot_mailbox_conf "$d" "mxray-audit-$2" "$ip" "$1" "auth_failure_delay = $delay
service anvil {
  unix_listener anvil-auth-penalty {
    mode = $penalty
  }
}
service auth {
  unix_listener auth-postfix {
    path = auth-postfix
    mode = 0666
  }
}" > "$d/dovecot.conf"
}

postfix_start() {
    local d=$1/postfix conf
    conf=$d/conf
    postfix_prepare "$d"
    chmod go+rx "$1"
    {
        echo "# mxray audit lab (.ci/audit.sh)"
        postfix_main_base "$d"
        cat <<CF
myhostname = mail.audit.lab
mydomain = audit.lab
myorigin = \$mydomain
mydestination = audit.lab, localhost
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
# Loopback is not "my network": anvil limits and relay rules apply to the tests' client.
mynetworks = 192.0.2.1/32
smtpd_client_event_limit_exceptions =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
local_recipient_maps =
alias_maps =
alias_database =
smtpd_tls_security_level =
# The canary domain (outside audit.lab) is delivered into Dovecot's mailboxes over LMTP.
transport_maps = inline:{ canary.lab=lmtp:unix:$1/open/run/lmtp-postfix }
lmtp_host_lookup = native
smtpd_sasl_type = dovecot
smtpd_sasl_auth_enable = no
smtpd_tls_auth_only = no
smtpd_error_sleep_time = 0
virtual_transport = discard
fallback_transport =
CF
    } > "$conf/main.cf"
    {
        cat <<CF
# mxray audit lab (.ci/audit.sh)
127.0.62.1:587 inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_path=$1/open/run/auth-postfix
127.0.62.2:587 inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_path=$1/guarded/run/auth-postfix
  -o smtpd_client_auth_rate_limit=3
127.0.62.3:25 inet n - n - - smtpd
  -o myhostname=relay.audit.lab
  -o mynetworks=0.0.0.0/0
127.0.62.4:25 inet n - n - - smtpd
  -o myhostname=closed.audit.lab
lmtp      unix - - n - - lmtp
proxywrite unix - - n - 1 proxymap
CF
        postfix_master_base
    } > "$conf/master.cf"
    postfix_start_conf "$conf" "$d/maillog"
    wait_port 127.0.62.1 587; wait_port 127.0.62.2 587
    wait_port 127.0.62.3 25; wait_port 127.0.62.4 25
}

postfix_stop() {
    [ -f "$1/postfix/conf/main.cf" ] || return 0
    postfix_stop_conf "$1/postfix/conf"
}

case "${1:-}" in
install)
    [ "$(id -u)" = 0 ] || die "install must run as root"
    bash "$(dirname "$0")/postfix.sh" install
    # The LMTP server has no command in PATH; command -v accepts its absolute path.
    install_packages /usr/lib/dovecot/lmtp dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
    ;;
start)
    d=${2:?usage: audit.sh start DIR}
    mkdir -p "$d"; d=$(cd "$d" && pwd -P)
    chmod 755 "$d"
    if [ ! -s "$d/passwords.env" ]; then
        ( umask 077
          printf 'THROTTLE=%s\nDAVE=%s\nCANARY=%s\n' "$(rand)" "$(rand)" "$(rand)" > "$d/passwords.env" )
    fi
    # shellcheck disable=SC1091
    source "$d/passwords.env"
    cat > "$d/users" <<USERS
throttle@audit.lab:{PLAIN}$THROTTLE
alice@audit.lab:{PLAIN}alice@audit.lab
bob@audit.lab:{PLAIN}bob
carol@audit.lab:{PLAIN}letmein
dave@audit.lab:{PLAIN}$DAVE
canary@canary.lab:{PLAIN}$CANARY
USERS
    chmod 644 "$d/users"
    mkdir -p "$d/mail"; chown nobody:nogroup "$d/mail"
    dovecot_conf "$d" open 127.0.62.1 0 0
    dovecot_conf "$d" guarded 127.0.62.2 "2 secs" 0600
    for n in open guarded; do dovecot -c "$d/$n/dovecot.conf" || die "dovecot $n did not start"; done
    for ip in 127.0.62.1 127.0.62.2; do wait_port $ip 143; wait_port $ip 110; done
    for n in open guarded; do
        for _ in $(seq 50); do [ -S "$d/$n/run/auth-postfix" ] && break; sleep 0.1; done
    done
    postfix_start "$d"
    echo "audit lab up: Dovecot + Postfix submission on 127.0.62.1 (open), 127.0.62.2 (guarded); dir $d"
    ;;
stop)
    d=${2:?usage: audit.sh stop DIR}
    [ -d "$d" ] || exit 0
    d=$(cd "$d" && pwd -P)
    postfix_stop "$d"
    for n in open guarded; do stop_pidfile "$d/$n/run/master.pid"; done
    echo "audit lab stopped ($d)"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
