#!/usr/bin/env bash
# Builds the runner base root filesystem from Debian packages into $1 (no container registry needed).
set -euo pipefail
dir=$1
mirror=${SANDRUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
debootstrap --variant=minbase bookworm "$dir" "$mirror" >/dev/null
cat >"$dir/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST
# Runner images never need these; dropping them halves the image.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
  "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
  "$dir"/usr/share/locale/* "$dir"/var/log/*.log
# The unprivileged user every run uses (SPEC §3); uid/gid 10001, home /tmp (the only writable place besides /outputs).
echo 'sandrun:x:10001:10001:sandrun:/tmp:/usr/sbin/nologin' >>"$dir/etc/passwd"
echo 'sandrun:x:10001:' >>"$dir/etc/group"
echo 'sandrun:*:19000:0:99999:7:::' >>"$dir/etc/shadow"
