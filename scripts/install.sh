#!/usr/bin/env bash
# Install, upgrade, roll back or remove the station controller as a systemd service.
#
#   scripts/install.sh install   --wheel FILE   first install: user, folders, release, config, units
#   scripts/install.sh upgrade   --wheel FILE   back up, install the new release, migrate, switch
#   scripts/install.sh rollback                 back to the previous release (and its database)
#   scripts/install.sh uninstall [--purge]      remove the service and the releases (--purge: data too)
#   scripts/install.sh status                   installed releases, schema versions, backups
#
# Options (before or after the action):
#   --wheel FILE     the station_edge-*.whl to install (default: the newest in dist/ of this checkout)
#   --prefix DIR     where releases live (default /opt/station)
#   --destdir DIR    stage everything under DIR (also: DESTDIR=DIR); no user is created, no chown,
#                    no systemctl: for packaging and tests
#   --python EXE     the Python (>= 3.11) the release runs on (default: python3)
#   --no-start       do not start the service after an upgrade or a rollback
#
# Layout (all paths under DESTDIR):
#   PREFIX/releases/VERSION/   one virtual environment per release (bin/station, bin/python)
#   PREFIX/current, PREFIX/previous   symlinks to releases; the units run PREFIX/current/bin/station
#   /etc/station/station.toml  configuration (kept across upgrades; example copied on first install)
#   /var/lib/station/          database, lists; backups/ holds one folder per upgrade
#   /etc/systemd/system/station.service, station-web.service
# `station install ...` runs this script from an installed wheel.
set -euo pipefail

action=""
wheel=""
prefix="/opt/station"
destdir="${DESTDIR:-}"
python="python3"
purge=0
start=1
while [ $# -gt 0 ]; do
  case "$1" in
    install|upgrade|rollback|uninstall|status) action="$1" ;;
    --wheel) wheel="$2"; shift ;;
    --wheel=*) wheel="${1#*=}" ;;
    --prefix) prefix="$2"; shift ;;
    --prefix=*) prefix="${1#*=}" ;;
    --destdir) destdir="$2"; shift ;;
    --destdir=*) destdir="${1#*=}" ;;
    --python) python="$2"; shift ;;
    --python=*) python="${1#*=}" ;;
    --purge) purge=1 ;;
    --no-start) start=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$action" ] || { echo "install.sh: say install, upgrade, rollback, uninstall or status (see --help)" >&2; exit 2; }

R="${destdir%/}"
P="$R$prefix"
ETC="$R/etc/station"
VAR="$R/var/lib/station"
UNITS="$R/etc/systemd/system"
CONFIG="$ETC/station.toml"
USER_NAME="station"
staged=0; [ -n "$R" ] && staged=1
here="$(cd "$(dirname "$0")" && pwd)"

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
systemd_up() { [ "$staged" = 0 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; }
own() {  # own USER:GROUP MODE PATH — the mode always, the owner only on a real root
  chmod "$2" "$3"
  if [ "$staged" = 0 ]; then chown "$1" "$3"; fi
}
release_py() { echo "$1/bin/python"; }
version_of() { "$(release_py "$1")" -c 'from edge.bundled import version; print(version())'; }

find_wheel() {
  if [ -z "$wheel" ]; then
    wheel="$(ls -t "$here"/../dist/station_edge-*.whl 2>/dev/null | head -n1 || true)"
    [ -n "$wheel" ] || die "no --wheel given and no dist/station_edge-*.whl (run: make dist)"
  fi
  [ -f "$wheel" ] || die "wheel $wheel not found"
  wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
}

wheel_version() {  # station_edge-1.2.3-py3-none-any.whl -> 1.2.3
  local base; base="$(basename "$wheel")"; base="${base#station_edge-}"; echo "${base%%-*}"
}

make_release() {  # make_release DIR: a virtual environment with the wheel and its dependencies
  # Built in place (a venv cannot be moved); a half-made one is removed, and `current` never points
  # at a release before it ran `station --version`.
  local dir="$1"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$python is older than 3.11"
  if [ -e "$dir" ]; then  # kept from an earlier upgrade that was rolled back: reuse it if it runs
    if "$dir/bin/station" --version 2>/dev/null | grep -qx "station $(basename "$dir")"; then return; fi
    rm -rf "$dir"
  fi
  mkdir -p "$(dirname "$dir")"
  local uv="${UV:-$(command -v uv || true)}" ok=1
  if [ -n "$uv" ]; then
    "$uv" venv --quiet --python "$python" "$dir" \
      && "$uv" pip install --quiet --python "$dir/bin/python" "$wheel" || ok=0
  else
    "$python" -m venv "$dir" \
      && "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" || ok=0
  fi
  if [ "$ok" = 0 ] || ! "$dir/bin/station" --version >/dev/null; then
    rm -rf "$dir"
    die "could not install $wheel into $dir"
  fi
}

point() {  # point LINK TARGET — atomic symlink switch (relative, so a staged root stays coherent)
  ln -sfn "$2" "$1.new" && mv -T "$1.new" "$1"
}

render_unit() {  # render_unit NAME: the shipped unit with the prefix substituted
  local src; src="$("$(release_py "$P/current")" -c "from edge.bundled import bundled; print(bundled('deploy/$1'))")"
  mkdir -p "$UNITS"
  sed "s#/opt/station#$prefix#g" "$src" > "$UNITS/$1.tmp"
  chmod 0644 "$UNITS/$1.tmp"
  mv "$UNITS/$1.tmp" "$UNITS/$1"
}

create_user() {
  if [ "$staged" = 1 ]; then say "staged root: the $USER_NAME user is created at install on the target"; return; fi
  if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/station --no-create-home \
      --shell /usr/sbin/nologin --comment "station edge controller" "$USER_NAME"
  fi
  getent group dialout >/dev/null || groupadd --system dialout
  usermod -a -G dialout "$USER_NAME"
}

check_secrets() {  # the daemon refuses them too; say it at install time
  "$(release_py "$P/current")" - "$CONFIG" <<'PY' || die "fix the modes above, then run again"
import sys
from edge.config import ConfigError, load_config
from edge.secret_files import exposed_secret_problems
try:
    problems = exposed_secret_problems(load_config(sys.argv[1]))
except ConfigError as exc:
    problems = []
    print(f"warning: {exc}", file=sys.stderr)
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

systemctl_do() { if systemd_up; then systemctl "$@"; fi; }

do_install() {
  find_wheel
  [ ! -e "$P/current" ] || die "already installed ($(readlink "$P/current")): use upgrade"
  create_user
  mkdir -p "$ETC" "$VAR" "$VAR/backups" "$P/releases"
  own root:"$USER_NAME" 0750 "$ETC"
  own "$USER_NAME:$USER_NAME" 0750 "$VAR"
  own "$USER_NAME:$USER_NAME" 0750 "$VAR/backups"
  chmod 0755 "$P" "$P/releases"
  local version; version="$(wheel_version)"
  make_release "$P/releases/$version"
  point "$P/current" "releases/$version"
  if [ ! -e "$CONFIG" ]; then
    cp "$("$(release_py "$P/current")" -c "from edge.bundled import bundled; print(bundled('examples/station.toml'))")" "$CONFIG"
    own root:"$USER_NAME" 0640 "$CONFIG"
    say "example configuration written to $CONFIG: edit the station, lines and products"
  fi
  check_secrets
  render_unit station.service
  render_unit station-web.service
  systemctl_do daemon-reload
  systemctl_do enable station.service
  say "installed release $version in $P; next: edit $CONFIG, then"
  say "  $prefix/current/bin/station run --config /etc/station/station.toml --check && systemctl start station"
}

was_active=0
stop_service() {
  if systemd_up && systemctl is-active --quiet station.service; then
    was_active=1; systemctl stop station.service
  fi
}

start_service() {  # start_service: start and wait for READY=1 (Type=notify); false if it fails
  if [ "$start" = 1 ] && systemd_up && [ "$was_active" = 1 ]; then
    systemctl start station.service
  fi
}

do_upgrade() {
  find_wheel
  [ -e "$P/current" ] || die "not installed: use install"
  local old; old="$(readlink "$P/current")"
  local old_version="${old#releases/}" version; version="$(wheel_version)"
  [ "$old_version" != "$version" ] || die "release $version is already current"
  local stamp; stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  local backup="$VAR/backups/$stamp-from-$old_version"
  make_release "$P/releases/$version"
  stop_service
  mkdir -p "$backup"
  own "$USER_NAME:$USER_NAME" 0750 "$backup"
  # The old release backs up (it can read its own schema); the configuration goes along.
  "$(release_py "$P/$old")" -m edge.release backup --config "$CONFIG" --to "$backup/station.db" >/dev/null \
    || { start_service; die "backup failed: nothing changed"; }
  cp -a "$ETC" "$backup/etc-station"
  echo "$old_version" > "$backup/release"
  say "backup of release $old_version in $backup"
  point "$P/previous" "$old"
  point "$P/current" "releases/$version"
  if ! "$(release_py "$P/current")" -m edge.release migrate --config "$CONFIG" >/dev/null; then
    say "migration failed: rolling back to $old_version"
    do_rollback
    die "upgrade to $version failed; release $old_version restored"
  fi
  render_unit station.service
  render_unit station-web.service
  systemctl_do daemon-reload
  if ! start_service; then
    say "release $version does not start: rolling back to $old_version"
    do_rollback
    die "upgrade to $version failed; release $old_version restored"
  fi
  say "upgraded $old_version -> $version (roll back with: install.sh rollback)"
}

do_rollback() {
  [ -e "$P/previous" ] || die "no previous release to roll back to"
  local cur prev; cur="$(readlink "$P/current")"; prev="$(readlink "$P/previous")"
  local prev_version="${prev#releases/}"
  stop_service
  local backup; backup="$(ls -d "$VAR/backups/"*"-from-$prev_version" 2>/dev/null | sort | tail -n1 || true)"
  local db; db="$("$(release_py "$P/$prev")" -m edge.release database --config "$CONFIG")"
  local supported; supported="$("$(release_py "$P/$prev")" -m edge.release schema)"
  local have; have="$("$(release_py "$P/$prev")" -m edge.release db-version --config "$CONFIG")"
  if [ "$have" -gt "$supported" ]; then
    # The newer release migrated the schema: the old one cannot open it. Restore the pre-upgrade
    # backup and keep the newer database beside it (records since the upgrade are in it).
    [ -n "$backup" ] && [ -f "$backup/station.db" ] || die "database schema $have > $supported and no backup"
    local aside; aside="$db.rolled-back-$(date -u +%Y%m%dT%H%M%SZ)"
    mv "$db" "$aside"
    rm -f "$db-wal" "$db-shm"
    cp "$backup/station.db" "$db"
    own "$USER_NAME:$USER_NAME" 0640 "$db"
    say "database restored from $backup (the newer one kept as $aside)"
  else
    say "database schema $have is readable by $prev_version: kept as it is"
  fi
  point "$P/current" "$prev"
  point "$P/previous" "$cur"
  render_unit station.service
  render_unit station-web.service
  systemctl_do daemon-reload
  start_service || true
  say "rolled back to $prev_version"
}

do_uninstall() {
  if systemd_up; then
    systemctl disable --now station-web.service station.service 2>/dev/null || true
  fi
  rm -f "$UNITS/station.service" "$UNITS/station-web.service"
  systemctl_do daemon-reload
  rm -rf "$P"
  if [ "$purge" = 1 ]; then
    rm -rf "$ETC" "$VAR"
    if [ "$staged" = 0 ] && getent passwd "$USER_NAME" >/dev/null; then userdel "$USER_NAME" || true; fi
    say "removed the service, the releases, the configuration and the data"
  else
    say "removed the service and the releases; kept $ETC and $VAR (--purge removes them)"
  fi
}

do_status() {
  [ -e "$P/current" ] || { say "not installed in $P"; exit 1; }
  echo "current:  $(readlink "$P/current")"
  [ -e "$P/previous" ] && echo "previous: $(readlink "$P/previous")"
  echo "schema:   database $("$(release_py "$P/current")" -m edge.release db-version --config "$CONFIG"), release $("$(release_py "$P/current")" -m edge.release schema)"
  echo "backups:"; ls -1 "$VAR/backups" 2>/dev/null | sed 's/^/  /'
}

case "$action" in
  install) do_install ;;
  upgrade) do_upgrade ;;
  rollback) do_rollback ;;
  uninstall) do_uninstall ;;
  status) do_status ;;
esac
