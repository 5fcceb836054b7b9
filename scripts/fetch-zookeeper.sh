#!/usr/bin/env bash
# Fetches a ZooKeeper release that the tests run besides the installed one (Debian bookworm's 3.8),
# from Debian's own archive, into a cache the test harness reads (test/harness/zookeeper-releases.ts):
#
#   scripts/fetch-zookeeper.sh 3.4 3.9     (no argument: both)
#
#   3.4 -> 3.4.13, bullseye's libzookeeper-java
#   3.9 -> 3.9.3,  trixie's libzookeeper-java
#
# Nothing is installed: apt runs with a private configuration (its own sources list, lists and
# cache), `apt-get download` fetches the .deb and `dpkg-deb -x` unpacks it. The release's jars land
# in <cache>/<upstream version>/ (zookeeper.jar, zookeeper-jute.jar for 3.9) with the exact Debian
# version in debian-version. A release is unpacked into a temporary directory and renamed into
# place, under a lock, so that two test processes fetching at once neither race nor leave half a
# release behind.
#
# The cache is ${DCOS_BACKUP_ZOOKEEPER_CACHE:-${XDG_CACHE_HOME:-~/.cache}/dcos-backup-zookeeper}:
# one copy for every checkout of the repository, which `git clean` does not remove.
# DCOS_BACKUP_APT_RETRIES (default apt's 3, about 7 s of backoff) is how often apt retries a fetch.
set -euo pipefail

cache="${DCOS_BACKUP_ZOOKEEPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dcos-backup-zookeeper}"
mirror="${DCOS_BACKUP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
retries="${DCOS_BACKUP_APT_RETRIES:-3}"

release_of() {
  case "$1" in
    3.4) echo '3.4.13 bullseye' ;;
    3.9) echo '3.9.3 trixie' ;;
    *) echo "fetch-zookeeper: unknown ZooKeeper line \"$1\" (known: 3.4, 3.9; 3.8 is Debian's installed zookeeper package)" >&2; return 2 ;;
  esac
}

fetch() {
  local spec upstream suite
  spec="$(release_of "$1")" || return 2
  read -r upstream suite <<<"$spec"
  local target="$cache/$upstream"
  if [ -f "$target/zookeeper.jar" ]; then
    echo "ZooKeeper $upstream: $target ($(cat "$target/debian-version"))"
    return 0
  fi

  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  # Another process may have fetched it while this one waited for the lock.
  if [ -f "$target/zookeeper.jar" ]; then
    exec 9>&-
    echo "ZooKeeper $upstream: $target ($(cat "$target/debian-version"))"
    return 0
  fi

  work="$(mktemp -d "$cache/.fetch-$upstream.XXXXXX")"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/unpacked" "$work/release"
  echo "deb [trusted=yes] $mirror $suite main" >"$work/sources.list"
  local apt_options=(
    -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o Dir::State::Status=/dev/null
    -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" -o "Acquire::Retries=$retries"
  )

  echo "ZooKeeper $upstream: reading Debian $suite's package list from $mirror"
  apt-get "${apt_options[@]}" -qq --error-on=any update
  local version
  version="$(apt-cache "${apt_options[@]}" madison libzookeeper-java | awk -F' *[|] *' -v want="$upstream-" 'index($2, want) == 1 { print $2; exit }')"
  if [ -z "$version" ]; then
    echo "fetch-zookeeper: Debian $suite has no libzookeeper-java $upstream-*" >&2
    return 1
  fi
  echo "ZooKeeper $upstream: downloading libzookeeper-java $version"
  (cd "$work" && apt-get "${apt_options[@]}" -qq download "libzookeeper-java=$version")
  dpkg-deb -x "$work"/libzookeeper-java_*.deb "$work/unpacked"
  cp -L "$work/unpacked/usr/share/java/zookeeper.jar" "$work/release/zookeeper.jar"
  if [ -e "$work/unpacked/usr/share/java/zookeeper-jute.jar" ]; then
    cp -L "$work/unpacked/usr/share/java/zookeeper-jute.jar" "$work/release/zookeeper-jute.jar"
  fi
  echo "$version" >"$work/release/debian-version"
  rm -rf "$target" # an incomplete copy, from before the rename existed
  mv -T "$work/release" "$target"
  rm -rf "$work"
  exec 9>&-
  echo "ZooKeeper $upstream: $target ($version)"
}

work=''
trap 'rm -rf "$work"' EXIT

lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(3.4 3.9)
for line in "${lines[@]}"; do fetch "$line"; done
