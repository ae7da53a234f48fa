#!/usr/bin/env bash
# Build the project's image without Docker and without a registry, and run it.
#
#   container/build.sh build [TAG]          make the base, build the image (default TAG: neurospeech)
#   container/build.sh twice [TAG]          build it twice from scratch and compare the layers
#   container/build.sh run [--out DIR] [--volume SPEC]... [TAG] [CMD...]
#                                           run it offline (CMD defaults to the image's: the
#                                           sample reproduce), with podman's --volume SPECs,
#                                           then copy its paper/ to DIR (default: paper/)
#
# On a Debian-like machine, as root: installs podman, runc, mmdebstrap and uidmap from the
# Debian packages where they are missing; makes the base image with mmdebstrap from the
# machine's own apt sources (bookworm, minbase, with python3, its venv module, git,
# ca-certificates) and imports it with podman (kept between runs, keyed by the sources and
# the package list; its tarball's sha256 is printed and kept beside it); downloads the
# lock's wheels on the host, with the host's own pip configuration, into a folder that the
# build reads with the network off; builds the Dockerfile on that base with
# SOURCE_DATE_EPOCH as every layer's time, the commit, the tree's state and the lock's
# hash as labels, and no models (the sample needs none: FETCH_MODELS=1 in the environment
# fetches them, which needs the hub).
#
# Environment: NEUROSPEECH_CONTAINER_CACHE (default ~/.cache/neurospeech/container) holds
# the base, the wheels and podman's configuration; SOURCE_DATE_EPOCH (default: the time of
# the last commit that changed the Dockerfile, the lock, noxfile.py or pyproject.toml);
# FETCH_MODELS (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${NEUROSPEECH_CONTAINER_CACHE:-$HOME/.cache/neurospeech/container}
suite=bookworm
packages=python3,python3-venv,git,ca-certificates,passwd
home=/home/neuro/neurospeech

say() { echo "container/build.sh: $*" >&2; }
fail() { say "error: $*"; exit 1; }

tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman runc uidmap)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    [ ${#missing[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || fail "needs ${missing[*]} (Debian packages) and apt-get to install them"
    [ "$(id -u)" = 0 ] || fail "needs ${missing[*]}: run as root, or install them first"
    say "installing ${missing[*]} from the Debian packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# podman's settings for a machine without systemd: runc, cgroupfs, and limits on open
# files and processes that runc may set (podman's defaults, 1048576 each, exceed the
# machine's hard limits; in CI's sandbox runc may not set more than 32768 processes, fewer
# than the shell's hard limit).
configure() {
    mkdir -p "$cache"
    local files processes
    files=$(ulimit -Hn)
    processes=$(ulimit -Hu)
    [ "$files" = unlimited ] || [ "$files" -gt 65536 ] && files=65536
    [ "$processes" = unlimited ] || [ "$processes" -gt 32768 ] && processes=32768
    cat >"$cache/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=${files}:${files}", "nproc=${processes}:${processes}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
    export CONTAINERS_CONF="$cache/containers.conf"
}

# The machine's apt source files (one-line or deb822), for mmdebstrap and the base's key.
source_files() {
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$file" ] && echo "$file"
    done
    return 0
}

base() {
    local key tarball image list=()
    mapfile -t list < <(source_files)
    [ ${#list[@]} -gt 0 ] || fail "no apt sources in /etc/apt: mmdebstrap needs the machine's Debian mirror"
    key=$( { echo "$suite $packages"; cat "${list[@]}"; } | sha256sum | cut -c1-16)
    image=localhost/neurospeech-base:$key
    if podman image exists "$image"; then
        say "base $image (kept; tarball sha256 $(cut -d' ' -f1 "$cache/base-$key.tar.sha256" 2>/dev/null || echo unknown))"
        echo "$image"
        return
    fi
    tarball=$cache/base-$key.tar
    if [ ! -s "$tarball" ]; then
        say "making the base with mmdebstrap ($suite, minbase, $packages)"
        mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" --mode=root \
            "$suite" "$tarball.part" "${list[@]}" || fail "mmdebstrap could not make the base (see above)"
        mv "$tarball.part" "$tarball"
        sha256sum "$tarball" | sed "s|$cache/||" >"$tarball.sha256"
    fi
    say "base tarball sha256 $(cut -d' ' -f1 "$tarball.sha256")"
    podman import --quiet "$tarball" "$image" >/dev/null || fail "podman could not import $tarball"
    echo "$image"
}

wheels() {
    say "downloading the lock's wheels with the host's pip configuration into $cache/wheels"
    python3 -m pip download --quiet --no-deps --dest "$cache/wheels" \
        -r requirements/lock.txt setuptools wheel 2>&1 | grep -v '^WARNING: Location' >&2 || true
    # the same request again, from the folder alone: fails if a wheel is missing
    python3 -m pip install --dry-run --quiet --ignore-installed --no-deps --no-index \
        --find-links "$cache/wheels" -r requirements/lock.txt setuptools wheel >/dev/null \
        || fail "the wheels in $cache/wheels do not cover requirements/lock.txt (see above)"
}

# Copy into folder $1 the files git tracks or would track (untracked ones not ignored), as
# they are in the working tree: the build's context, so that outputs, caches and data,
# even while a reproduce writes them, never enter the image.
tracked() {
    git ls-files -z --cached --others --exclude-standard \
        | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
        | tar -xf - -C "$1"
}

# The time of the last commit that changed the environment's inputs (or HEAD's; 0 outside git).
epoch() {
    local time
    time=$(git log -1 --format=%ct -- Dockerfile requirements/lock.txt noxfile.py pyproject.toml 2>/dev/null || true)
    [ -n "$time" ] || time=$(git log -1 --format=%ct 2>/dev/null || true)
    echo "${time:-0}"
}

build() {
    local tag=${1:-neurospeech} image commit dirty epoch
    shift || true
    # every file time of the base and every layer's time, so that builds can be identical:
    # by default the time of the last commit that changed what the environment is built
    # from (a build argument that changes rebuilds every step after it)
    export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(epoch)}
    epoch=$SOURCE_DATE_EPOCH
    tools
    configure
    image=$(base)
    wheels
    commit=$(git rev-parse HEAD 2>/dev/null || echo "")
    dirty=""
    [ -n "$commit" ] && { git diff --quiet HEAD -- && dirty=false || dirty=true; }

    # outside git: the checkout, less .dockerignore
    local context=$PWD copy=""
    if [ -n "$commit" ]; then
        copy=$(mktemp -d)
        context=$copy
        tracked "$context"
    fi
    say "building $tag on $image (commit ${commit:-unknown}, dirty ${dirty:-unknown}, SOURCE_DATE_EPOCH $epoch)"
    # Docker's image format, the one Docker users get (OCI's has no SHELL)
    podman build --format docker --network none --timestamp "$epoch" --file "$context/Dockerfile" \
        --volume "$cache/wheels:/wheels:ro" \
        --build-arg BASE="$image" \
        --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels \
        --build-arg FETCH_MODELS="${FETCH_MODELS:-0}" \
        --build-arg COMMIT="$commit" --build-arg DIRTY="$dirty" --build-arg SOURCE_DATE_EPOCH="$epoch" \
        --build-arg LOCK_SHA256="$(sha256sum requirements/lock.txt | cut -d' ' -f1)" \
        --tag "$tag" "$@" "$context" || { rm -rf "$copy"; fail "podman build failed: the Dockerfile's step above did not build"; }
    rm -rf "$copy"
    say "built $tag: $(podman image inspect --format '{{.Id}}' "$tag")"
}

run() {
    local out=paper volumes=()
    while [ $# -gt 0 ]; do
        case $1 in
            --out) out=$2; shift 2 ;;
            --volume) volumes+=(--volume "$2"); shift 2 ;;
            *) break ;;
        esac
    done
    local tag=${1:-neurospeech}
    shift || true
    configure
    local name=neurospeech-run-$$ status=0 blas=() setting
    # the machine's OpenBLAS settings (e.g. OPENBLAS_CORETYPE: its kernels) go in: other
    # kernels change the last bits of linear algebra, and outputs are compared byte for byte
    while IFS= read -r setting; do blas+=(--env "$setting"); done < <(env | grep '^OPENBLAS_' || true)
    podman run --name "$name" --network none "${blas[@]}" "${volumes[@]}" "$tag" "$@" || status=$?
    # the outputs are copied out (a mounted folder would have to belong to the image's
    # user, uid 1000: podman's ":U" gives it to that user)
    mkdir -p "$out"
    podman cp "$name:$home/paper/." "$out/" || { say "could not copy paper/ out"; [ "$status" != 0 ] || status=1; }
    podman rm "$name" >/dev/null
    [ "$status" = 0 ] || fail "the container's command failed (exit status $status); its outputs are in $out"
    say "the container's paper/ is in $out"
}

# Two builds from scratch with the same SOURCE_DATE_EPOCH: the same layers, or the
# differing ones named with the step that made them.
twice() {
    local tag=${1:-neurospeech} first second
    export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(epoch)}
    build "$tag-first" --no-cache
    build "$tag-second" --no-cache
    first=$(podman image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$tag-first")
    second=$(podman image inspect --format '{{range .RootFS.Layers}}{{println .}}{{end}}' "$tag-second")
    local steps
    steps=$(podman history --no-trunc --format '{{.CreatedBy}}' "$tag-first" | tac)
    paste <(echo "$first") <(echo "$second") | awk '{print ($1 == $2 ? "same     " : "DIFFERENT"), $1, $2}'
    say "image ids: $(podman image inspect --format '{{.Id}}' "$tag-first") and $(podman image inspect --format '{{.Id}}' "$tag-second")"
    if [ "$first" != "$second" ]; then
        say "the two builds differ in the layers marked DIFFERENT; the build's steps, oldest first:"
        echo "$steps" >&2
        exit 1
    fi
    say "the two builds are identical, layer for layer"
    # the images' configurations beside their names and ids (buildah's history notes name
    # the intermediate images of each build, which differ)
    local config='import json, sys
image = json.load(sys.stdin)[0]
for key in ("Id", "Digest", "RepoTags", "RepoDigests", "NamesHistory"):
    image.pop(key, None)
print(json.dumps(image, indent=1, sort_keys=True))'
    diff <(podman image inspect "$tag-first" | python3 -c "$config") \
        <(podman image inspect "$tag-second" | python3 -c "$config") \
        && say "and so are their configurations" \
        || say "their configurations differ only where shown above"
}

case ${1:-} in
    build) shift; build "$@" ;;
    twice) shift; twice "$@" ;;
    run) shift; run "$@" ;;
    *) fail "usage: container/build.sh build [TAG] | twice [TAG] | run [--out DIR] [--volume SPEC] [TAG] [CMD...]" ;;
esac
