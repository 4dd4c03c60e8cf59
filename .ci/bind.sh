#!/usr/bin/env bash
# BIND 9 (Debian's package) on loopback for the tests, two instances on port 5300:
#   127.0.53.1  discloses its version (no `version` option), recurses for anyone — forwarding
#               only to 127.0.53.2, with a root-hints file naming only a loopback server, so
#               it never reaches out — and allows AXFR of its zone mxray-bind-open.lab
#   127.0.53.2  hides version and host name, no recursion, no AXFR; serves
#               mxray-bind-closed.lab and recursion.lab (the name the recursion test asks)
# BIND listens only on addresses present on an interface: the two addresses are added to lo
# and exactly those we added are removed again at stop.
# Usage: bind.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"
IPS="127.0.53.1 127.0.53.2"

zone() { # zone FILE ORIGIN NS_IP [extra records]
    cat > "$1" <<ZONE
\$TTL 60
@ IN SOA ns.$2. hostmaster.$2. 1 3600 600 86400 60
@ IN NS ns.$2.
ns IN A $3
$4
ZONE
}

conf() { # conf DIR NAME IP OPTIONS ZONES
    cat > "$1/$2/named.conf" <<CONF
options {
    directory "$1/$2";
    pid-file "$1/$2/named.pid";
    session-keyfile "$1/$2/session.key";
    managed-keys-directory "$1/$2";
    listen-on port 5300 { $3; };
    listen-on-v6 { none; };
    dnssec-validation no;
    notify no;
    $4
};
controls { };
logging { channel f { file "$1/$2/named.log"; severity info; }; category default { f; }; };
$5
CONF
}

case "${1:-}" in
install)
    install_packages named bind9 bind9-dnsutils iproute2
    ;;
start)
    d=${2:?usage: bind.sh start DIR}
    mkdir -p "$d/open" "$d/closed"
    : > "$d/added-addresses"
    for ip in $IPS; do
        if ! ip -o addr show dev lo | grep -q " $ip/"; then
            ip addr add "$ip/32" dev lo && echo "$ip" >> "$d/added-addresses"
        fi
    done
    printf '. 3600000 NS lab-root.\nlab-root. 3600000 A 127.0.53.2\n' > "$d/open/root.hints"
    zone "$d/open/open.zone" mxray-bind-open.lab 127.0.53.1 "secret-intranet IN A 10.1.2.3"
    zone "$d/closed/closed.zone" mxray-bind-closed.lab 127.0.53.2 "www IN A 10.1.2.4"
    zone "$d/closed/recursion.zone" recursion.lab 127.0.53.2 "probe IN A 127.0.53.99"
    conf "$d" open 127.0.53.1 \
        'recursion yes; allow-recursion { any; }; allow-query { any; }; allow-transfer { any; }; forward only; forwarders { 127.0.53.2 port 5300; };' \
        "zone \".\" { type hint; file \"$d/open/root.hints\"; };
zone \"mxray-bind-open.lab\" { type primary; file \"$d/open/open.zone\"; };"
    conf "$d" closed 127.0.53.2 \
        'version none; hostname none; server-id none; recursion no; allow-query { any; }; allow-transfer { none; };' \
        "zone \"mxray-bind-closed.lab\" { type primary; file \"$d/closed/closed.zone\"; };
zone \"recursion.lab\" { type primary; file \"$d/closed/recursion.zone\"; };"
    chown -R bind:bind "$d/open" "$d/closed"; chmod 755 "$d"
    for n in open closed; do named -c "$d/$n/named.conf" -u bind; done
    wait_port 127.0.53.1 5300; wait_port 127.0.53.2 5300
    ;;
stop)
    d=${2:?usage: bind.sh stop DIR}
    for n in open closed; do stop_pidfile "$d/$n/named.pid"; done
    if [ -f "$d/added-addresses" ]; then
        while read -r ip; do [ -n "$ip" ] && ip addr del "$ip/32" dev lo || true; done < "$d/added-addresses"
        : > "$d/added-addresses"
    fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
