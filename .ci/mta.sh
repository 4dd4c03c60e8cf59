#!/usr/bin/env bash
# Three real MTAs from Debian's packages on loopback, each in the relay configurations admins
# really write, for the relay-verdict tests (crates/cli/tests/integration/mta.rs). Port 2525.
#
#   configuration        Postfix        Exim          OpenSMTPD     domain it answers for
#   closed               127.0.25.10    127.0.26.1    127.0.27.1    {pf,ex,os}-closed.lab
#   open, domain remote  127.0.25.11    127.0.26.2    127.0.27.2    {pf,ex,os}-relay.lab
#   open, domain local   127.0.25.12    127.0.26.3    127.0.27.3    {pf,ex,os}-local.lab
#   backup MX            127.0.25.13    127.0.26.4    127.0.27.4    {pf,ex,os}-backup.lab
#   accepts any user     127.0.25.14    127.0.26.5    127.0.27.5    {pf,ex,os}-acceptall.lab
#
# - closed: its domain is local, unknown users refused at RCPT, no relaying.
# - open, domain remote: relays for everyone (Postfix `mynetworks = 0.0.0.0/0`, Exim
#   `hostlist relay_from_hosts = 0.0.0.0/0`, OpenSMTPD `match from any for any action relay`);
#   its own domain is not local to it, so a nonexistent user there is relayed like anything else.
# - open, domain local: serves its domain locally (unknown users refused) and relays the rest
#   (Postfix `smtpd_relay_restrictions = check_recipient_access static:OK, reject_unauth_destination`, Exim
#   `domainlist relay_to_domains = *`, OpenSMTPD `match from any for any action relay` after the
#   local rule).
# - backup MX: relays only for the domain it backs up (Postfix `relay_domains`, Exim
#   `relay_to_domains`, OpenSMTPD `match from any for domain … action relay`): closed, but it
#   accepts any user at that domain (it cannot know them).
# - accepts any user: its domain is local without recipient validation (Postfix
#   `local_recipient_maps =`, Exim without `verify = recipient`, OpenSMTPD a catch-all virtual
#   table): closed, and would bounce unknown users after DATA (a backscatter source).
#
# Sendmail is not among them (not attempted yet).
#
# Never delivering anywhere: Postfix discards every transport; Exim's routers are `:blackhole:`
# and `:fail:` redirects (no dnslookup router, no transport); OpenSMTPD relays to
# 127.0.27.254:2525, where nothing listens, and delivers locally with `/bin/true`. Exim and
# OpenSMTPD run in a private mount namespace whose /etc/resolv.conf names 127.0.27.253 (nothing
# listens there), so no name lookup leaves the machine.
#
# Exim and OpenSMTPD conflict with Postfix as Debian packages: they are `apt-get download`ed and
# unpacked with `dpkg-deb -x` under /opt/mxray-mta (see /work/shared/NOTES.md), never installed.
#
#   .ci/mta.sh install      Postfix (package), exim4 and opensmtpd unpacked, their users
#   .ci/mta.sh start DIR    start all three (Postfix: a second instance, apart from postfix.sh's)
#   .ci/mta.sh stop DIR     stop exactly what start DIR started
source "$(dirname "$0")/lib-servers.sh"

ROOT=/opt/mxray-mta
EXIM=$ROOT/exim/usr/sbin/exim4
SMTPD=$ROOT/opensmtpd/usr/sbin/smtpd
PORT=2525
CONFS="closed relay local backup acceptall"

die() { echo "mta.sh: $*" >&2; exit 1; }

install() {
    [ "$(id -u)" = 0 ] || die "install must run as root"
    bash "$(dirname "$0")/postfix.sh" install
    if [ ! -x "$EXIM" ] || [ ! -x "$SMTPD" ]; then
        apt-get -o DPkg::Lock::Timeout=900 update -qq
        # Libraries they link against (none of these conflicts with Postfix).
        apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
            libidn12 libgnutls-dane0 libgnutls30 libdb5.3 libpcre2-8-0 libnsl2 \
            libevent-2.1-7 libssl3 libpam0g zlib1g >/dev/null
        local tmp; tmp=$(mktemp -d /tmp/mxray-mta-debs.XXXXXX)
        (cd "$tmp" && chmod 777 . && apt-get download -q exim4-daemon-light opensmtpd >/dev/null)
        mkdir -p "$ROOT/exim" "$ROOT/opensmtpd"
        dpkg-deb -x "$tmp"/exim4-daemon-light_*.deb "$ROOT/exim"
        dpkg-deb -x "$tmp"/opensmtpd_*.deb "$ROOT/opensmtpd"
        rm -rf "$tmp"
    fi
    # The users their maintainer scripts would have made.
    getent passwd Debian-exim >/dev/null || useradd --system --user-group --no-create-home \
        --home-dir /var/spool/exim4 --shell /usr/sbin/nologin Debian-exim
    for u in opensmtpd opensmtpq; do
        getent passwd "$u" >/dev/null || useradd --system --user-group --no-create-home \
            --home-dir /var/lib/opensmtpd --shell /usr/sbin/nologin "$u"
    done
    mkdir -p /var/lib/opensmtpd/empty /var/spool/smtpd
    "$EXIM" -C /dev/null -bV >/dev/null 2>&1 || die "exim4 does not run: $("$EXIM" -C /dev/null -bV 2>&1 | head -3)"
}

# ------------------------------------------------------------------ Postfix
postfix_start() {
    local d=$1/postfix conf
    conf=$d/conf
    postfix_prepare "$d"
    chmod go+rx "$1"
    {
        echo "# mxray relay configurations (.ci/mta.sh)"
        postfix_main_base "$d"
        cat <<CF
myhostname = pf-closed.lab
mydomain = pf-closed.lab
myorigin = \$myhostname
mydestination = pf-closed.lab, pf-local.lab, pf-acceptall.lab, localhost
relay_domains = pf-backup.lab
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
mynetworks = 192.0.2.1/32
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
local_recipient_maps = inline:{postmaster=postmaster}
alias_maps =
alias_database =
smtpd_tls_security_level =
smtpd_error_sleep_time = 0
virtual_transport = discard
fallback_transport =
transport_maps =
CF
    } > "$conf/main.cf"
    {
        cat <<CF
# mxray relay configurations (.ci/mta.sh)
127.0.25.10:$PORT inet n - n - - smtpd
127.0.25.11:$PORT inet n - n - - smtpd
  -o myhostname=pf-relay.lab
  -o mynetworks=0.0.0.0/0
127.0.25.12:$PORT inet n - n - - smtpd
  -o myhostname=pf-local.lab
  -o { smtpd_relay_restrictions = check_recipient_access static:OK, reject_unauth_destination }
127.0.25.13:$PORT inet n - n - - smtpd
  -o myhostname=pf-backup.lab
127.0.25.14:$PORT inet n - n - - smtpd
  -o myhostname=pf-acceptall.lab
  -o local_recipient_maps=
proxywrite unix - - n - 1 proxymap
CF
        postfix_master_base
    } > "$conf/master.cf"
    postfix_start_conf "$conf" "$d/maillog"
    local a; for a in 10 11 12 13 14; do wait_port "127.0.25.$a" "$PORT"; done
}

postfix_stop() {
    [ -f "$1/postfix/conf/main.cf" ] || return 0
    postfix_stop_conf "$1/postfix/conf"
}

# ------------------------------------------------------------------ Exim
# exim_conf NAME IP LOCAL_DOMAINS RELAY_TO RELAY_FROM VERIFY(yes|no) DIR
exim_conf() {
    local verify="require verify = recipient"
    [ "$6" = yes ] || verify="# (no recipient verification: unknown local users accepted, bounced later)"
    cat <<CONF
# mxray relay configuration $1 (.ci/mta.sh)
primary_hostname = $1
qualify_domain = $1
domainlist local_domains = $3
domainlist relay_to_domains = $4
hostlist relay_from_hosts = $5
local_interfaces = <; $2.$PORT
spool_directory = $7/spool
log_file_path = $7/%slog
pid_file_path = $7/exim.pid
smtp_banner = \$smtp_active_hostname ESMTP Exim \$version_number
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
helo_try_verify_hosts =
acl_smtp_rcpt = acl_check_rcpt

begin acl
# Debian's stock acl_check_rcpt, in its order, minus sender verification (no DNS here).
acl_check_rcpt:
  accept  hosts = :
  deny    domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
  deny    domains = !+local_domains
          local_parts = ^[./|] : ^.*[@%!] : ^.*/\\\\.\\\\./
  accept  local_parts = postmaster
          domains = +local_domains
  accept  hosts = +relay_from_hosts
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  $verify
  accept

begin routers
known_local:
  driver = redirect
  domains = +local_domains
  local_parts = postmaster
  data = :blackhole:
unknown_local:
  driver = redirect
  domains = +local_domains
  allow_fail
  data = :fail: Unknown user
elsewhere:
  driver = redirect
  domains = ! +local_domains
  data = :blackhole:
CONF
}

exim_start() {
    local d=$1/exim i=0 conf name
    mkdir -p "$d"
    chmod go+rx "$1" "$d"
    # name  local_domains  relay_to_domains  relay_from_hosts  verify
    while read -r name local relayto from verify; do
        i=$((i + 1))
        [ "$local" = - ] && local=""
        [ "$relayto" = - ] && relayto=""
        [ "$from" = - ] && from=""
        mkdir -p "$d/$i/spool"
        chown Debian-exim:Debian-exim "$d/$i" "$d/$i/spool"
        exim_conf "$name" "127.0.26.$i" "$local" "$relayto" "$from" "$verify" "$d/$i" > "$d/$i/exim.conf"
        resolv_conf "$1"
        # Exim re-executes itself as /usr/sbin/exim4 (compiled in): the unpacked sbin is
        # mounted there, in this namespace only.
        unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /usr/sbin &&
            exec /usr/sbin/exim4 -C "$2" -bdf' "$1/resolv.conf" "${EXIM%/*}" "$d/$i/exim.conf" \
            > "$d/$i/daemon.out" 2>&1 &
        echo $! > "$d/$i/pid"
    done <<LIST
ex-closed.lab ex-closed.lab - - yes
ex-relay.lab - - 0.0.0.0/0 yes
ex-local.lab ex-local.lab * - yes
ex-backup.lab - ex-backup.lab - yes
ex-acceptall.lab ex-acceptall.lab - - no
LIST
    for i in 1 2 3 4 5; do
        wait_port "127.0.26.$i" "$PORT" || { cat "$d/$i/daemon.out" "$d/$i"/*log >&2 2>/dev/null; die "exim $i did not start"; }
    done
}

exim_stop() {
    local p
    for p in "$1"/exim/*/pid; do [ -f "$p" ] && stop_pidfile "$p"; done
    return 0
}

# ------------------------------------------------------------------ OpenSMTPD
opensmtpd_start() {
    local d=$1/opensmtpd
    mkdir -p "$d/spool"
    chmod 711 "$d/spool"
    cat > "$d/smtpd.conf" <<CONF
# mxray relay configurations (.ci/mta.sh); the queue is $d/spool, mounted on /var/spool/smtpd.
table users { "postmaster" = "nobody" }
table catchall { "@" = "nobody" }
listen on 127.0.27.1 port $PORT hostname os-closed.lab tag CLOSED
listen on 127.0.27.2 port $PORT hostname os-relay.lab tag RELAY
listen on 127.0.27.3 port $PORT hostname os-local.lab tag LOCAL
listen on 127.0.27.4 port $PORT hostname os-backup.lab tag BACKUP
listen on 127.0.27.5 port $PORT hostname os-acceptall.lab tag ACCEPTALL
action "deliver" mda "/bin/true" virtual <users>
action "anyone" mda "/bin/true" virtual <catchall>
action "out" relay host smtp://127.0.27.254:$PORT
match from any tag CLOSED for domain "os-closed.lab" action "deliver"
match from any tag RELAY for any action "out"
match from any tag LOCAL for domain "os-local.lab" action "deliver"
match from any tag LOCAL for any action "out"
match from any tag BACKUP for domain "os-backup.lab" action "out"
match from any tag ACCEPTALL for domain "os-acceptall.lab" action "anyone"
CONF
    chmod 644 "$d/smtpd.conf"
    "$SMTPD" -n -f "$d/smtpd.conf" > "$d/check.out" 2>&1 || { cat "$d/check.out" >&2; die "smtpd.conf invalid"; }
    resolv_conf "$1"
    # The queue and the control socket (/run/smtpd.sock) stay inside DIR's namespace.
    unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /var/spool/smtpd &&
        mount -t tmpfs tmpfs /run && exec "$2" -d -f "$3"' \
        "$1/resolv.conf" "$d/spool" "$SMTPD" "$d/smtpd.conf" > "$d/daemon.out" 2>&1 &
    echo $! > "$d/pid"
    for i in 1 2 3 4 5; do
        wait_port "127.0.27.$i" "$PORT" || { cat "$d/daemon.out" >&2; die "opensmtpd did not start"; }
    done
}

# resolv_conf DIR: DIR/resolv.conf naming a loopback address where nothing listens; the
# daemons see it as /etc/resolv.conf in their own mount namespace (unshare -m, then sh and the
# daemon exec in turn, so the recorded PID is the daemon's).
resolv_conf() { echo "nameserver 127.0.27.253" > "$1/resolv.conf"; }

case "${1:-}" in
install) install ;;
start)
    d=${2:?usage: mta.sh start DIR}
    mkdir -p "$d"; d=$(cd "$d" && pwd -P)
    postfix_start "$d"
    exim_start "$d"
    opensmtpd_start "$d"
    echo "MTAs up: Postfix 127.0.25.10-14, Exim 127.0.26.1-5, OpenSMTPD 127.0.27.1-5 (port $PORT; dir $d)"
    ;;
stop)
    d=${2:?usage: mta.sh stop DIR}
    [ -d "$d" ] || exit 0
    d=$(cd "$d" && pwd -P)
    postfix_stop "$d"
    exim_stop "$d"
    [ -f "$d/opensmtpd/pid" ] && stop_pidfile "$d/opensmtpd/pid"
    echo "MTAs stopped ($d)"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
