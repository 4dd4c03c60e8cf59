#!/usr/bin/env bash
# The services of `--exposure-extra` (issue 16 part 3) from Debian's packages on loopback, for
# the tests; none can reach outside 127.0.0.0/8:
#   127.0.23.1:23    telnet: inetutils-inetd runs inetutils-telnetd with a login program of
#                    our own that prints a prompt, reads one line and exits (never a shell)
#   127.0.45.1       smbd, SMB1 on (server min protocol = NT1), ports 445 and 139
#   127.0.45.2       smbd, SMB1 off (server min protocol = SMB2_02), ports 445 and 139
#   127.0.31.1:3128  tinyproxy, open: any loopback client, destinations filtered to ^127\.
#   127.0.31.2:3128  tinyproxy, restricted: only 192.0.2.1 may use it (403 for us)
#   127.0.31.3:1080  dante, open SOCKS5 (no authentication), destinations 127.0.0.0/8 only
#   127.0.31.4:1080  dante, SOCKS5 requiring a user name and password
#   127.0.21.1:21    vsftpd, anonymous on (local users off: other names get 530)
#   127.0.21.2:21    vsftpd, anonymous off (local users on: every name is asked a password)
# The proxies run in a private mount namespace whose /etc/resolv.conf names 127.0.31.53
# (nothing listens there), so a name given to them is never resolved by the machine's resolver;
# the tests only ever give them addresses. smbd wants its address on an interface: the
# addresses it needs are added to lo and exactly those removed at stop. Only the PIDs we
# started are stopped.
# Every daemon runs in its own session (setsid): smbd and danted signal their whole process
# group when they stop, which was the CI script's own group (its cleanup died with them).
# Usage: exposure.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

SMB_IPS=(127.0.45.1 127.0.45.2)

case "${1:-}" in
install)
    install_packages /usr/sbin/smbd samba
    install_packages /usr/bin/tinyproxy tinyproxy
    install_packages /usr/sbin/danted dante-server
    install_packages /usr/sbin/vsftpd vsftpd
    install_packages /usr/sbin/inetutils-inetd inetutils-inetd inetutils-telnetd
    ;;
start)
    d=${2:?usage: exposure.sh start DIR}
    mkdir -p "$d"; chmod 755 "$d"
    bash "$0" stop "$d"

    # ---- telnet
    cat > "$d/login.sh" <<'SH'
#!/bin/bash
# Stands in for /bin/login: a prompt, one line read (10 s at most), a refusal. Never a shell.
printf 'mxray-test telnet lab\r\n'
printf 'mxray-test login: '
read -t 10 -r _ || true
printf '\r\nLogin incorrect\r\n'
exit 1
SH
    chmod 755 "$d/login.sh"
    echo "127.0.23.1:telnet stream tcp nowait root /usr/sbin/telnetd telnetd -h -E $d/login.sh" \
        > "$d/inetd.conf"
    setsid /usr/sbin/inetutils-inetd -d -p"$d/inetd.pidfile" "$d/inetd.conf" >"$d/inetd.log" 2>&1 &
    echo $! > "$d/inetd.pid"
    wait_port 127.0.23.1 23

    # ---- samba
    for i in 1 2; do
        ip=${SMB_IPS[$((i - 1))]}
        if ! ip -o addr show dev lo | grep -q " $ip/32 "; then
            ip addr add "$ip/32" dev lo && echo "$ip" >> "$d/added-addresses"
        fi
        s=$d/smb$i; mkdir -p "$s"/{private,lock,state,cache,pid,log,ncalrpc,share}
        chmod 700 "$s/private"
        if [ $i = 1 ]; then minp=NT1; else minp=SMB2_02; fi
        cat > "$s/smb.conf" <<CONF
[global]
   workgroup = MXRAYLAB
   netbios name = MXRAYSMB$i
   server string = mxray test
   interfaces = $ip/32
   bind interfaces only = yes
   smb ports = 445 139
   server min protocol = $minp
   disable netbios = no
   server role = standalone server
   map to guest = never
   restrict anonymous = 2
   load printers = no
   printing = bsd
   printcap name = /dev/null
   disable spoolss = yes
   private dir = $s/private
   lock directory = $s/lock
   state directory = $s/state
   cache directory = $s/cache
   pid directory = $s/pid
   ncalrpc dir = $s/ncalrpc
   log file = $s/log/smbd.log
   passdb backend = tdbsam:$s/private/passdb.tdb
   dns proxy = no
   wins support = no
[share]
   path = $s/share
   read only = yes
   guest ok = no
CONF
        setsid /usr/sbin/smbd --foreground --no-process-group --debug-stdout -s "$s/smb.conf" \
            </dev/null >"$s/log/stdout.log" 2>&1 &
        echo $! > "$d/smbd$i.pid"
    done
    for ip in "${SMB_IPS[@]}"; do wait_port "$ip" 445; wait_port "$ip" 139; done

    # ---- proxies: one resolv.conf naming nothing that answers
    echo "nameserver 127.0.31.53" > "$d/resolv.conf"
    echo '^127\.' > "$d/tinyproxy.filter"
    for i in 1 2; do
        if [ $i = 1 ]; then allow=127.0.0.0/8; else allow=192.0.2.1; fi
        cat > "$d/tinyproxy$i.conf" <<CONF
User nobody
Group nogroup
Listen 127.0.31.$i
Port 3128
Timeout 30
MaxClients 20
LogFile "$d/tinyproxy$i.log"
LogLevel Info
Allow $allow
Filter "$d/tinyproxy.filter"
FilterType ere
FilterDefaultDeny Yes
DisableViaHeader Yes
CONF
        setsid unshare -m sh -c "mount --bind '$d/resolv.conf' /etc/resolv.conf && exec /usr/bin/tinyproxy -d -c '$d/tinyproxy$i.conf'" \
            </dev/null >"$d/tinyproxy$i.out" 2>&1 &
        echo $! > "$d/tinyproxy$i.pid"
    done
    for i in 3 4; do
        if [ $i = 3 ]; then method=none; else method=username; fi
        cat > "$d/danted$i.conf" <<CONF
logoutput: $d/danted$i.log
internal: 127.0.31.$i port = 1080
external: 127.0.31.$i
user.privileged: nobody
user.unprivileged: nobody
clientmethod: none
socksmethod: $method
client pass { from: 127.0.0.0/8 to: 127.0.31.$i/32 }
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }
socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 }
CONF
        setsid unshare -m sh -c "mount --bind '$d/resolv.conf' /etc/resolv.conf && exec /usr/sbin/danted -f '$d/danted$i.conf' -p '$d/danted$i.pidfile' -N 1" \
            </dev/null >"$d/danted$i.out" 2>&1 &
        echo $! > "$d/danted$i.pid"
    done
    for i in 1 2; do wait_port 127.0.31.$i 3128; done
    for i in 3 4; do wait_port 127.0.31.$i 1080; done

    # ---- vsftpd
    mkdir -p "$d/ftp-empty" "$d/ftp-root"; chmod 555 "$d/ftp-empty" "$d/ftp-root"
    echo "mxray test file" > "$d/ftp-root/README" 2>/dev/null || true
    for i in 1 2; do
        if [ $i = 1 ]; then anon=YES local=NO; else anon=NO local=YES; fi
        cat > "$d/vsftpd$i.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.21.$i
listen_port=21
background=NO
anonymous_enable=$anon
local_enable=$local
write_enable=NO
anon_root=$d/ftp-root
no_anon_password=NO
secure_chroot_dir=$d/ftp-empty
pam_service_name=vsftpd
ftpd_banner=mxray test FTP $i
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file=$d/vsftpd$i.log
pasv_enable=NO
connect_from_port_20=NO
CONF
        setsid /usr/sbin/vsftpd "$d/vsftpd$i.conf" </dev/null >"$d/vsftpd$i.out" 2>&1 &
        echo $! > "$d/vsftpd$i.pid"
    done
    for i in 1 2; do wait_port 127.0.21.$i 21; done
    ;;
stop)
    d=${2:?usage: exposure.sh stop DIR}
    for f in inetd smbd1 smbd2 tinyproxy1 tinyproxy2 danted3 danted4 vsftpd1 vsftpd2; do
        stop_pidfile "$d/$f.pid"
        rm -f "$d/$f.pid"
    done
    if [ -f "$d/added-addresses" ]; then
        while read -r ip; do ip addr del "$ip/32" dev lo 2>/dev/null || true; done < "$d/added-addresses"
        rm -f "$d/added-addresses"
    fi
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
