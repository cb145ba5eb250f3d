#!/usr/bin/env bash
# Install the Debian programs the tests (or benchmarks) drive, when missing.
# Runs as root on CI machines; elsewhere it only reports what is missing.
set -euo pipefail
want=(swaks chromium isync offlineimap3 fetchmail neomutt tmux)  # real SMTP and IMAP clients (neomutt runs in tmux); real browser for UI tests
[ "${1:-test}" = bench ] && want+=(postfix dovecot-imapd)  # smtp-source (SMTP load); Dovecot (IMAP reference)
command -v initdb >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/initdb ] || want+=(postgresql)

missing=()
for pkg in "${want[@]}"; do
  case "$pkg" in
    postfix) command -v smtp-source >/dev/null 2>&1 || [ -x /usr/sbin/smtp-source ] || missing+=(postfix) ;;
    *) dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (install them as root)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix is installed only for its tools; "No configuration" keeps the MTA from starting.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The IMAP benchmark starts its own Dovecot on a private config: never leave the system one running.
case " ${missing[*]} " in
  *" dovecot-imapd "*)
    service dovecot stop >/dev/null 2>&1 ||
      { [ -f /run/dovecot/master.pid ] && kill "$(cat /run/dovecot/master.pid)" 2>/dev/null; } || true ;;
esac
