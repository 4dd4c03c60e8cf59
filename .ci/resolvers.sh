#!/usr/bin/env bash
# Real resolvers and authoritative servers from Debian's packages on loopback, port 5300, for
# the open-recursion tests (judged by behaviour: a server that recursed for a name outside its
# authority is open even when the answer is NXDOMAIN):
#   127.0.55.1  BIND, authoritative only (recursion no): serves probe-recursion.lab, where the
#               name the tests ask (nx.probe-recursion.lab) does not exist, and mxray-auth.lab.
#               Asked about a name outside its zones it answers REFUSED.
#   127.0.55.2  Unbound, an open resolver (access-control 127.0.0.0/8 allow) forwarding
#               everything to 127.0.55.1 only: NXDOMAIN, RA=1, AA=0, the zone's SOA.
#   127.0.55.3  dnsmasq, an open resolver forwarding only to 127.0.55.1 (no resolv.conf,
#               no hosts file): the same NXDOMAIN.
#   127.0.55.4  BIND authoritative for the parent zone "lab." with a delegation of
#               probe-recursion.lab to 127.0.55.1 (recursion no): asked about the name, it
#               answers with a referral (NOERROR, AA=0, NS in authority), never a recursion.
#   127.0.55.5  BIND authoritative only for mxray-refuse.lab (recursion no): asked about
#               the name, which is outside its zones, it answers REFUSED.
# dnsmasq passes on the authority's AA bit the first time it forwards a name (AA=1, RA=1);
# from its cache it answers AA=0: both are recursion.
# Nothing here can reach outside: the resolvers forward only to 127.0.55.1, Unbound has no
# root hints in use (forward-zone "."), BIND has recursion off, dnsmasq reads no resolv.conf.
# BIND listens only on addresses on an interface: the four addresses are added to lo and
# exactly those we added are removed again at stop.
# Usage: resolvers.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"
IPS="127.0.55.1 127.0.55.2 127.0.55.3 127.0.55.4 127.0.55.5"
PORT=5300

zone() { # zone FILE ORIGIN NS_IP [extra records]
    cat > "$1" <<ZONE
\$TTL 60
@ IN SOA ns.$2. hostmaster.$2. 1 3600 600 86400 60
@ IN NS ns.$2.
ns IN A $3
$4
ZONE
}

named_conf() { # named_conf DIR NAME IP ZONES
    cat > "$1/$2/named.conf" <<CONF
options {
    directory "$1/$2";
    pid-file "$1/$2/named.pid";
    session-keyfile "$1/$2/session.key";
    managed-keys-directory "$1/$2";
    listen-on port $PORT { $3; };
    listen-on-v6 { none; };
    dnssec-validation no;
    notify no;
    recursion no;
    allow-query { any; };
    allow-transfer { none; };
};
controls { };
logging { channel f { file "$1/$2/named.log"; severity info; }; category default { f; }; };
$4
CONF
}

case "${1:-}" in
install)
    install_packages named bind9 bind9-dnsutils iproute2
    install_packages unbound unbound
    install_packages dnsmasq dnsmasq-base
    ;;
start)
    d=${2:?usage: resolvers.sh start DIR}
    mkdir -p "$d/auth" "$d/parent" "$d/refuse" "$d/unbound" "$d/dnsmasq"
    : > "$d/added-addresses"
    for ip in $IPS; do
        if ! ip -o addr show dev lo | grep -q " $ip/"; then
            ip addr add "$ip/32" dev lo && echo "$ip" >> "$d/added-addresses"
        fi
    done
    zone "$d/auth/probe.zone" probe-recursion.lab 127.0.55.1 "www IN A 127.0.55.99"
    zone "$d/auth/auth.zone" mxray-auth.lab 127.0.55.1 "www IN A 127.0.55.98"
    named_conf "$d" auth 127.0.55.1 \
        "zone \"probe-recursion.lab\" { type primary; file \"$d/auth/probe.zone\"; };
zone \"mxray-auth.lab\" { type primary; file \"$d/auth/auth.zone\"; };"
    zone "$d/parent/lab.zone" lab 127.0.55.4 "probe-recursion IN NS ns.probe-recursion.lab.
ns.probe-recursion IN A 127.0.55.1
mxray-referral IN NS ns.mxray-referral.lab.
ns.mxray-referral IN A 127.0.55.4"
    named_conf "$d" parent 127.0.55.4 "zone \"lab\" { type primary; file \"$d/parent/lab.zone\"; };"
    zone "$d/refuse/refuse.zone" mxray-refuse.lab 127.0.55.5 "www IN A 127.0.55.97"
    named_conf "$d" refuse 127.0.55.5 "zone \"mxray-refuse.lab\" { type primary; file \"$d/refuse/refuse.zone\"; };"
    chown -R bind:bind "$d/auth" "$d/parent" "$d/refuse"; chmod 755 "$d"
    for n in auth parent refuse; do named -c "$d/$n/named.conf" -u bind; done
    cat > "$d/unbound/unbound.conf" <<CONF
server:
    interface: 127.0.55.2
    port: $PORT
    do-ip6: no
    do-daemonize: yes
    chroot: ""
    username: ""
    directory: "$d/unbound"
    pidfile: "$d/unbound/unbound.pid"
    logfile: "$d/unbound/unbound.log"
    use-syslog: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    auto-trust-anchor-file: ""
    local-zone: "lab." nodefault
    local-zone: "127.in-addr.arpa." nodefault
forward-zone:
    name: "."
    forward-addr: 127.0.55.1@$PORT
remote-control:
    control-enable: no
CONF
    unbound -c "$d/unbound/unbound.conf"
    dnsmasq --conf-file=/dev/null --listen-address=127.0.55.3 --bind-interfaces --port=$PORT \
        --no-resolv --no-hosts --no-poll --server=127.0.55.1#$PORT --pid-file="$d/dnsmasq/dnsmasq.pid" \
        --user=dnsmasq --log-facility="$d/dnsmasq/dnsmasq.log"
    wait_port 127.0.55.1 $PORT; wait_port 127.0.55.4 $PORT; wait_port 127.0.55.5 $PORT
    # Ready when each resolver answers a name of the authority (Unbound refuses while starting).
    for ip in 127.0.55.2 127.0.55.3; do
        for _ in $(seq 50); do
            dig +tries=1 +time=1 -p $PORT @$ip www.mxray-auth.lab A 2>/dev/null | grep -q "status: NOERROR" && break
            sleep 0.2
        done
    done
    ;;
stop)
    d=${2:?usage: resolvers.sh stop DIR}
    for n in auth parent refuse; do stop_pidfile "$d/$n/named.pid"; done
    stop_pidfile "$d/unbound/unbound.pid"
    stop_pidfile "$d/dnsmasq/dnsmasq.pid"
    if [ -f "$d/added-addresses" ]; then
        while read -r ip; do [ -n "$ip" ] && ip addr del "$ip/32" dev lo || true; done < "$d/added-addresses"
        : > "$d/added-addresses"
    fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
