#!/usr/bin/env bash
# Dovecot (Debian's package) on loopback for the tests, two instances, never reaching out:
#   127.0.110.1  plaintext login allowed without TLS (disable_plaintext_auth = no)
#   127.0.110.2  TLS only (ssl = required, disable_plaintext_auth = yes: LOGINDISABLED)
# each with POP3 1110, IMAP 1143, POP3S 1995, IMAPS 1993 and a self-signed certificate.
# Both answer IMAP ID (RFC 2971) with their name and version (`imap_id_send`), which the
# greeting (`Dovecot (Debian) ready.`) never shows: the fingerprint test reads it from there.
# The addresses are NOT added to lo: clients then connect from 127.0.0.1, and Dovecot does
# not treat them as local (it considers a client secure when its address equals the server's).
# Usage: dovecot.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

conf() { # conf DIR NAME IP PLAINTEXT(yes|no)
    local d=$1 name=$2 ip=$3 plain=$4
    mkdir -p "$d/$name/run" "$d/$name/state" "$d/$name/mail"
    : > "$d/$name/users"
    chmod 755 "$d" "$d/$name"
    local ssl=yes disable=no
    if [ "$plain" = no ]; then ssl=required; disable=yes; fi
    cat > "$d/$name/dovecot.conf" <<CONF
instance_name = mxray-$name
base_dir = $d/$name/run
state_dir = $d/$name/state
log_path = $d/$name/dovecot.log
protocols = imap pop3
listen = $ip
ssl = $ssl
ssl_cert = <$d/cert.pem
ssl_key = <$d/key.pem
disable_plaintext_auth = $disable
auth_mechanisms = plain login
imap_id_send = name * version *
mail_location = maildir:$d/$name/mail/%u
passdb {
  driver = passwd-file
  args = $d/$name/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service imap-login {
  inet_listener imap {
    port = 1143
  }
  inet_listener imaps {
    port = 1993
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 1110
  }
  inet_listener pop3s {
    port = 1995
    ssl = yes
  }
}
CONF
}

case "${1:-}" in
install)
    install_packages dovecot dovecot-core dovecot-imapd dovecot-pop3d openssl
    ;;
start)
    d=${2:?usage: dovecot.sh start DIR}
    mkdir -p "$d"; self_signed "$d"
    conf "$d" plain 127.0.110.1 yes
    conf "$d" tlsonly 127.0.110.2 no
    for n in plain tlsonly; do dovecot -c "$d/$n/dovecot.conf"; done
    wait_port 127.0.110.1 1143; wait_port 127.0.110.2 1143
    wait_port 127.0.110.1 1110; wait_port 127.0.110.2 1995
    ;;
stop)
    d=${2:?usage: dovecot.sh stop DIR}
    for n in plain tlsonly; do stop_pidfile "$d/$n/run/master.pid"; done
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
