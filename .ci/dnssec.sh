#!/usr/bin/env bash
# DNSSEC on loopback for the tests: a test root signed with keys made at start, child zones
# signed by BIND (`dnssec-policy` with keys made at start, inline signing), one with a broken chain, one unsigned, and
# two resolvers in front of them. Nothing here asks outside loopback (the resolvers know only
# the test root, BIND does not recurse).
#   127.0.58.1:5300  BIND, authoritative only (also on port 53, where resolvers follow the
#                    delegations' glue): "." (signed with dnssec-signzone: KSK, ZSK),
#                    signed.test (dnssec-policy: DS at the root matches), broken.test
#                    (dnssec-policy, but the root's DS is of another key: bogus), unsigned.test
#                    (no DNSKEY, no DS: insecure), tampered.test (signed by hand, the TLSA's
#                    RRSIG altered: the chain is secure, the TLSA bogus). Each zone has an MX and a TLSA record at
#                    _25._tcp.mx.<zone>; the MX hosts are the shared Postfix (127.0.25.1).
#   127.0.58.2:5300  Unbound, validating (trust anchor: the test root's DS, DIR/root.ds)
#   127.0.58.3:5300  Unbound, not validating (module-config "iterator")
# DIR/root.ds is also mxray's --trust-anchor in the tests (MXRAY_TEST_DNSSEC=DIR).
# BIND listens only on addresses present on an interface: 127.0.58.1 is added to lo and
# removed at stop if we added it.
# Usage: dnssec.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"
AUTH=127.0.58.1
VALIDATING=127.0.58.2
PLAIN=127.0.58.3
MX_IP=127.0.25.1

child() { # child FILE ZONE [extra records]
    cat > "$1" <<ZONE
\$TTL 60
@ IN SOA ns.$2. hostmaster.$2. 1 3600 600 86400 60
@ IN NS ns.$2.
ns IN A $AUTH
@ IN MX 10 mx.$2.
mx IN A $MX_IP
_25._tcp.mx IN TLSA 3 1 1 d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0
${3:-}
ZONE
}

unbound_conf() { # unbound_conf FILE NAME IP MODULES EXTRA
    cat > "$1" <<CONF
server:
    interface: $3
    port: 5300
    do-ip6: no
    do-daemonize: yes
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$(dirname "$1")"
    pidfile: "$(dirname "$1")/$2.pid"
    logfile: "$(dirname "$1")/$2.log"
    use-syslog: no
    do-not-query-localhost: no
    local-zone: "test." nodefault
    module-config: "$4"
    cache-max-ttl: 60
$5
remote-control:
    control-enable: no
stub-zone:
    name: "."
    stub-addr: $AUTH@53
CONF
}

case "${1:-}" in
install)
    install_packages named bind9 bind9-dnsutils iproute2
    install_packages dnssec-signzone bind9-utils
    install_packages unbound unbound
    ;;
start)
    d=${2:?usage: dnssec.sh start DIR}
    mkdir -p "$d/keys" "$d/decoy"
    : > "$d/added-addresses"
    if ! ip -o addr show dev lo | grep " $AUTH/" >/dev/null; then
        ip addr add "$AUTH/32" dev lo && echo "$AUTH" >> "$d/added-addresses"
    fi
    kg() { dnssec-keygen -q -a ECDSAP256SHA256 "$@"; }
    # The root: KSK and ZSK made now, signed by hand.
    rksk=$(kg -f KSK -K "$d" .)
    rzsk=$(kg -K "$d" .)
    # The children's keys (dnssec-policy finds and uses them) and a decoy for broken.test.
    skey=$(kg -f KSK -K "$d/keys" signed.test)
    kg -K "$d/keys" signed.test >/dev/null
    kg -f KSK -K "$d/keys" broken.test >/dev/null
    kg -K "$d/keys" broken.test >/dev/null
    bdecoy=$(kg -f KSK -K "$d/decoy" broken.test)
    # tampered.test: signed by hand (dnssec-signzone), then one byte of the TLSA's RRSIG
    # altered: the chain holds, that one RRset is bogus.
    mkdir -p "$d/tk"
    tksk=$(kg -f KSK -K "$d/tk" tampered.test)
    tzsk=$(kg -K "$d/tk" tampered.test)
    {
        printf '$TTL 60\n. IN SOA ns.root-servers.test. hostmaster.test. 1 3600 600 86400 60\n'
        printf '. IN NS ns.root-servers.test.\nns.root-servers.test. IN A %s\n' "$AUTH"
        for z in signed broken unsigned tampered; do
            printf '%s.test. IN NS ns.%s.test.\nns.%s.test. IN A %s\n' "$z" "$z" "$z" "$AUTH"
        done
        dnssec-dsfromkey -2 "$d/keys/$skey.key"
        dnssec-dsfromkey -2 "$d/decoy/$bdecoy.key"
        dnssec-dsfromkey -2 "$d/tk/$tksk.key"
        cat "$d/$rksk.key" "$d/$rzsk.key"
    } > "$d/root.zone"
    dnssec-signzone -q -d "$d" -o . -K "$d" -f "$d/root.signed" "$d/root.zone" "$rksk" "$rzsk" >/dev/null
    dnssec-dsfromkey -2 "$d/$rksk.key" > "$d/root.ds"
    child "$d/signed.zone" signed.test
    child "$d/broken.zone" broken.test
    child "$d/unsigned.zone" unsigned.test
    child "$d/tampered.zone" tampered.test
    cat "$d/tk/$tksk.key" "$d/tk/$tzsk.key" >> "$d/tampered.zone"
    (cd "$d/tk" && dnssec-signzone -q -d "$d" -O full -o tampered.test -f "$d/tampered.full" \
        "$d/tampered.zone" "$tksk" "$tzsk" >/dev/null)
    awk '$4 == "RRSIG" && $5 == "TLSA" {
            c = substr($NF, 1, 1); $NF = (c == "A" ? "B" : "A") substr($NF, 2); hit = 1 }
        { print } END { if (!hit) exit 1 }' "$d/tampered.full" > "$d/tampered.signed"
    cat > "$d/named.conf" <<CONF
options {
    directory "$d";
    pid-file "$d/named.pid";
    session-keyfile "$d/session.key";
    managed-keys-directory "$d";
    listen-on port 5300 { $AUTH; };
    listen-on port 53 { $AUTH; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query { any; };
    allow-transfer { none; };
};
controls { };
logging { channel f { file "$d/named.log"; severity info; }; category default { f; }; };
dnssec-policy "mxray" {
    keys {
        ksk key-directory lifetime unlimited algorithm ecdsap256sha256;
        zsk key-directory lifetime unlimited algorithm ecdsap256sha256;
    };
    dnskey-ttl 60; max-zone-ttl 60; zone-propagation-delay 0; retire-safety 0;
    publish-safety 0; parent-ds-ttl 60; parent-propagation-delay 0;
};
zone "." { type primary; file "$d/root.signed"; };
zone "signed.test" { type primary; file "$d/signed.zone"; dnssec-policy "mxray"; inline-signing yes; key-directory "$d/keys"; };
zone "broken.test" { type primary; file "$d/broken.zone"; dnssec-policy "mxray"; inline-signing yes; key-directory "$d/keys"; };
zone "unsigned.test" { type primary; file "$d/unsigned.zone"; };
zone "tampered.test" { type primary; file "$d/tampered.signed"; };
CONF
    chown -R bind:bind "$d"; chmod 755 "$d"
    named -c "$d/named.conf" -u bind
    wait_port "$AUTH" 5300
    # Inline signing takes a moment: wait until both children answer with signatures.
    for z in signed.test broken.test; do
        for _ in $(seq 100); do
            if dig +short +dnssec +norec -p 5300 @"$AUTH" "$z" DNSKEY | grep -q '^DNSKEY '; then break; fi
            sleep 0.1
        done
    done
    unbound_conf "$d/validating.conf" validating "$VALIDATING" "validator iterator" \
        "    trust-anchor-file: \"$d/root.ds\"
    val-log-level: 2"
    unbound_conf "$d/plain.conf" plain "$PLAIN" "iterator" ""
    unbound -c "$d/validating.conf"
    unbound -c "$d/plain.conf"
    wait_port "$VALIDATING" 5300; wait_port "$PLAIN" 5300
    ;;
stop)
    d=${2:?usage: dnssec.sh stop DIR}
    stop_pidfile "$d/validating.pid"
    stop_pidfile "$d/plain.pid"
    stop_pidfile "$d/named.pid"
    if [ -f "$d/added-addresses" ]; then
        while read -r ip; do [ -n "$ip" ] && ip addr del "$ip/32" dev lo || true; done < "$d/added-addresses"
        : > "$d/added-addresses"
    fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
