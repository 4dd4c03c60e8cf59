#!/usr/bin/env bash
# Mailing lists for the posting canary of `mxray audit` (crates/cli/tests/integration/lists.rs):
# Debian's mlmmj 1.3.0 behind a private Postfix, subscribers' mailboxes in a private Dovecot.
#
#   127.0.64.1:25   Postfix, the MX of lists.lab: lists.lab goes to mlmmj through a pipe(8)
#                   transport (mlmmj-receive, as user nobody), members.lab over LMTP into
#                   Dovecot, everything else is discarded (no DNS, no relayhost).
#   127.0.64.2      Dovecot IMAP 143 / POP3 110 (passwd-file), the subscribers' mailboxes.
#
# Three lists, configured as the world configures them (mlmmj tunables in control/):
#   open@lists.lab       anyone may post (no subonlypost) and, the common misconfiguration,
#                        Reply-To is rewritten to the list (customheaders + delheaders).
#   members@lists.lab    subonlypost: posts whose From: is not a subscriber are denied.
#   moderated@lists.lab  moderated, moderator mod@members.lab: posts are held in moderation/.
# Every list: owner owner@members.lab, subscribers sub1@ and sub2@members.lab (and the owner
# on members@), the default
# +list behaviour of mlmmj 1.3.0 (the subscriber list is mailed only when the From: of the
# request is an owner; "A list request was sent to the list from a non-owner address.
# Ignoring mail" otherwise).
#
# Accounts (DIR/users, passwords in DIR/passwords.env, mode 600): sub1@, sub2@, owner@,
# mod@members.lab. mlmmj-maintd is not started: nothing here needs bounce processing or
# moderation expiry. Clients connect from 127.0.0.1 (the addresses are not added to lo).
#
#   .ci/lists.sh install | start DIR | stop DIR
source "$(dirname "$0")/lib-servers.sh"

die() { echo "lists.sh: $*" >&2; exit 1; }

LISTS="open members moderated"

dovecot_start() {
    local d=$1/dovecot
    mkdir -p "$d/run" "$d/state"
    chmod 755 "$d"
    dovecot_mailbox_conf "$d" mxray-lists 127.0.64.2 "$1" > "$d/dovecot.conf"
    dovecot -c "$d/dovecot.conf" || die "dovecot did not start"
    wait_port 127.0.64.2 143; wait_port 127.0.64.2 110
    for _ in $(seq 50); do [ -S "$d/run/lmtp-postfix" ] && break; sleep 0.1; done
}

# make_list DIR NAME: an mlmmj list directory as mlmmj-make-ml lays it out, owned by nobody.
make_list() {
    local l=$1/lists/$2 s
    rm -rf "$l"
    for s in incoming queue queue/discarded archive text subconf unsubconf bounce control \
             moderation subscribers.d digesters.d nomailsubs.d requeue; do
        mkdir -p "$l/$s"
    done
    cp -r /usr/share/mlmmj/text.skel/en/. "$l/text/"
    echo "$2@lists.lab" > "$l/control/listaddress"
    echo "owner@members.lab" > "$l/control/owner"
    echo "127.0.64.1" > "$l/control/relayhost"
    echo "lists.lab" > "$l/control/smtphelo"
    echo "[$2]" > "$l/control/prefix"
    echo 0 > "$l/index"
    chown -R nobody:nogroup "$l"
    for s in sub1@members.lab sub2@members.lab; do
        /usr/bin/mlmmj-sub -L "$l" -a "$s" -f -q -s >/dev/null || die "mlmmj-sub $s to $2 failed"
    done
}

postfix_start() {
    local d=$1/postfix conf
    conf=$d/conf
    postfix_prepare "$d"
    {
        echo "# mxray lists lab (.ci/lists.sh)"
        postfix_main_base "$d"
        cat <<CF
myhostname = mx.lists.lab
mydomain = lists.lab
myorigin = \$mydomain
mydestination =
smtpd_banner = \$myhostname ESMTP \$mail_name (Debian/GNU)
biff = no
append_dot_mydomain = no
mynetworks = 127.0.0.0/8
recipient_delimiter = +
relay_domains = lists.lab, members.lab
relay_recipient_maps =
local_recipient_maps =
alias_maps =
alias_database =
smtpd_tls_security_level =
transport_maps = inline:{ open@lists.lab=mlmmj:open, members@lists.lab=mlmmj:members, moderated@lists.lab=mlmmj:moderated, members.lab=lmtp:unix:$1/dovecot/run/lmtp-postfix }
mlmmj_destination_recipient_limit = 1
lmtp_host_lookup = native
smtpd_error_sleep_time = 0
CF
    } > "$conf/main.cf"
    {
        cat <<CF
# mxray lists lab (.ci/lists.sh)
127.0.64.1:25 inet n - n - - smtpd
lmtp      unix - - n - - lmtp
mlmmj     unix - n n - - pipe
  flags=ORhu user=nobody argv=/usr/bin/mlmmj-receive -F -L $1/lists/\$nexthop
CF
        postfix_master_base
    } > "$conf/master.cf"
    postfix_start_conf "$conf" "$d/maillog"
    wait_port 127.0.64.1 25
}

case "${1:-}" in
install)
    [ "$(id -u)" = 0 ] || die "install must run as root"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # mlmmj depends on default-mta | mail-transport-agent: Postfix in the same line.
    install_packages mlmmj-receive mlmmj postfix
    install_packages /usr/lib/dovecot/lmtp dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd
    ;;
start)
    d=${2:?usage: lists.sh start DIR}
    mkdir -p "$d"; d=$(cd "$d" && pwd -P)
    chmod 755 "$d"
    if [ ! -s "$d/passwords.env" ]; then
        ( umask 077
          printf 'SUB1=%s\nSUB2=%s\nOWNER=%s\nMOD=%s\n' "$(rand)" "$(rand)" "$(rand)" "$(rand)" \
              > "$d/passwords.env" )
    fi
    # shellcheck disable=SC1091
    source "$d/passwords.env"
    cat > "$d/users" <<USERS
sub1@members.lab:{PLAIN}$SUB1
sub2@members.lab:{PLAIN}$SUB2
owner@members.lab:{PLAIN}$OWNER
mod@members.lab:{PLAIN}$MOD
USERS
    chmod 644 "$d/users"
    mkdir -p "$d/mail" "$d/lists"; chown nobody:nogroup "$d/mail"; chmod 755 "$d/lists"
    for l in $LISTS; do make_list "$d" "$l"; done
    # open: anyone may post; Reply-To rewritten to the list.
    printf 'Reply-To:\n' > "$d/lists/open/control/delheaders"
    printf 'Reply-To: open@lists.lab\nX-Mailinglist: open\n' > "$d/lists/open/control/customheaders"
    # members: subscribers only; its owner is subscribed too (as owners often are), so an
    # owner's +list request returns a roster naming the requester.
    touch "$d/lists/members/control/subonlypost"
    /usr/bin/mlmmj-sub -L "$d/lists/members" -a owner@members.lab -f -q -s >/dev/null \
        || die "mlmmj-sub owner to members failed"
    # moderated: held for the moderator.
    touch "$d/lists/moderated/control/moderated"
    echo "mod@members.lab" > "$d/lists/moderated/control/moderators"
    chown -R nobody:nogroup "$d/lists"/*/control
    dovecot_start "$d"
    postfix_start "$d"
    echo "lists lab up: Postfix + mlmmj on 127.0.64.1:25, Dovecot on 127.0.64.2; dir $d"
    ;;
stop)
    d=${2:?usage: lists.sh stop DIR}
    [ -d "$d" ] || exit 0
    d=$(cd "$d" && pwd -P)
    [ -f "$d/postfix/conf/main.cf" ] && postfix_stop_conf "$d/postfix/conf"
    stop_pidfile "$d/dovecot/run/master.pid"
    echo "lists lab stopped ($d)"
    ;;
*) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
