#!/usr/bin/env bash
# Builds the lab images from the recipes in examples/images/<name>/, with no image registry. Two
# kinds of recipe, told apart by an optional file `kind` in the recipe directory:
#
# docker (no `kind` file, or `kind` says docker): image ltb/<name>:latest. The recipe's build.sh
#   writes a root file system tar, `docker import` turns it into an image. A recipe directory holds:
#   build.sh   called as `build.sh OUT.tar`; LTB_APT_SOURCES (one "deb URI SUITE COMPONENTS" per line,
#              taken from this machine's apt configuration) and LTB_SUITE are in its environment
#   changes    one `docker import --change` instruction per line (CMD, ENV, ...); # starts a comment
#   any other files the recipe uses
#   build.sh may write labels, one KEY=VALUE a line, to the file $LTB_LABELS_FILE; the version of
#   the software the image is for goes in org.opencontainers.image.version (FRR's for ltb/frr).
#   The image carries those labels, org.opencontainers.image.title and .created (and .version,
#   recipe-<hash>, when build.sh gave none: `ltb catalog` shows it), and a label
#   ltb.recipe=<sha256 of the recipe directory and of this script>; when the existing image has
#   the same ltb.recipe the build is skipped, so reruns take a second.
#
# vm (`kind` says vm): files for libvirt in $LTB_IMAGES/ltb-<name>/ (default /var/lib/ltb/images).
#   build.sh   called as `build.sh OUTDIR` (an empty directory); writes the files and an image.json
#              that describes them, with a "version" (`ltb catalog` shows it; without one it is
#              recipe-<hash>). The directory gets a file .recipe with the same hash; when it
#              matches, the build is skipped. A rebuild replaces the directory as a whole.
#
#   scripts/build-images.sh [--force] [NAME...]     (default: every recipe)
set -euo pipefail

k_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly k_root
readonly k_self="$k_root/scripts/build-images.sh"
readonly k_recipes="$k_root/examples/images"
readonly k_label=ltb.recipe
readonly k_version_label=org.opencontainers.image.version
readonly k_vm_images="${LTB_IMAGES:-/var/lib/ltb/images}"
# The Debian release the images are built from (the FRR configs in examples/ are written for it).
export LTB_SUITE="${LTB_SUITE:-bookworm}"

log() { printf '[%s] images: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
now_ms() { date +%s%3N; }
elapsed() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%03d s' $((ms / 1000)) $((ms % 1000))
}

recipe_hash() {
  local dir=$1
  {
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    sha256sum <"$k_self"
  } | sha256sum | cut -c1-64
}

# "deb URI SUITE COMPONENTS" lines for LTB_SUITE, made from the machine's own apt sources (both
# sources.list and deb822 .sources files, as apt itself reads them), so that no mirror is written
# here. The host's codename in each suite (bookworm-updates, ...) is swapped for LTB_SUITE.
apt_sources() {
  local host_suite
  # shellcheck source=/dev/null
  host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $host_suite ]] || die "cannot tell this machine's Debian release from /etc/os-release"
  # --format prints one line per index file; the $(...) are apt's fields, not shell.
  # shellcheck disable=SC2016
  apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
    awk -v host="$host_suite" -v want="$LTB_SUITE" '
      $1 == "deb" && ($3 == host || index($3, host "-") == 1) {
        suite = want substr($3, length(host) + 1)
        key = $2 " " suite
        if (!(key in comps)) { order[++n] = key; comps[key] = $4 }
        else if (index(" " comps[key] " ", " " $4 " ") == 0) { comps[key] = comps[key] " " $4 }
      }
      END { for (i = 1; i <= n; i++) print "deb " order[i] " " comps[order[i]] }'
}

docker_answers() {
  curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
}

# The kind of a recipe: docker unless its directory has a file `kind` that says otherwise.
recipe_kind() {
  local dir="$k_recipes/$1" kind=docker
  if [[ -f $dir/kind ]]; then
    kind=$(tr -d '[:space:]' <"$dir/kind")
  fi
  case $kind in
  docker | vm) echo "$kind" ;;
  *) die "recipe $dir: file 'kind' says '$kind'; it must say docker or vm" ;;
  esac
}

require_recipe() {
  [[ -f $k_recipes/$1/build.sh ]] ||
    die "no recipe $k_recipes/$1/build.sh (recipes: $(list_recipes | tr '\n' ' '))"
}

build_one() {
  local name=$1 force=$2
  local dir="$k_recipes/$name"
  local image="ltb/$name:latest"
  local start hash current
  start=$(now_ms)
  hash=$(recipe_hash "$dir")
  current=$(docker image inspect -f "{{ index .Config.Labels \"$k_label\" }}" "$image" 2>/dev/null || true)
  if [[ $force -eq 0 && $current == "$hash" ]]; then
    log "$image is up to date (recipe ${hash:0:12}), cache hit in $(elapsed "$start")"
    return 0
  fi
  local old_id
  old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
  log "building $image (recipe ${hash:0:12}${current:+, image had ${current:0:12}})"
  # Looked up only when something is built: apt-get indextargets takes a second or two.
  if [[ -z ${LTB_APT_SOURCES:-} ]]; then
    LTB_APT_SOURCES=$(apt_sources)
    [[ -n $LTB_APT_SOURCES ]] || die "no apt sources for this machine's release; check /etc/apt/sources.list*"
    export LTB_APT_SOURCES
  fi
  local work
  work=$(mktemp -d /var/tmp/ltb-image-"$name".XXXXXX)
  # shellcheck disable=SC2064 # expand now: the trap must remove this build's directory
  trap "rm -rf '$work'" EXIT
  # The recipe's chatter goes to a log that is shown only when it fails.
  : >"$work/labels"
  if ! LTB_LABELS_FILE="$work/labels" bash "$dir/build.sh" "$work/rootfs.tar" >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" | sed "s/^/  $name: /" >&2
    die "recipe $dir/build.sh failed (last lines above)"
  fi
  [[ -s $work/rootfs.tar ]] || die "$dir/build.sh wrote no $work/rootfs.tar"
  local changes=() labels=() line key value
  if [[ -f $dir/changes ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# ]] && continue
      changes+=(--change "$line")
    done <"$dir/changes"
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# ]] && continue
    [[ $line == *=* ]] || die "recipe $dir/build.sh wrote a label line without '=': $line"
    labels+=("$line")
  done <"$work/labels"
  labels+=("org.opencontainers.image.title=ltb/$name"
    "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  if ! printf '%s\n' "${labels[@]}" | grep -q "^$k_version_label="; then
    labels+=("$k_version_label=recipe-${hash:0:12}")
  fi
  for line in "${labels[@]}"; do
    key=${line%%=*}
    value=${line#*=}
    value=${value//\\/\\\\}
    value=${value//\"/\\\"}
    changes+=(--change "LABEL $key=\"$value\"")
  done
  changes+=(--change "LABEL $k_label=$hash")
  docker import "${changes[@]}" --message "ltb recipe $name ${hash:0:12}" \
    "$work/rootfs.tar" "$image" >/dev/null
  rm -rf "$work"
  trap - EXIT
  # The previous build is now untagged; drop it unless a container still uses it.
  local new_id
  new_id=$(docker image inspect -f '{{.Id}}' "$image")
  if [[ -n $old_id && $old_id != "$new_id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  log "built $image $(docker image inspect -f "{{ index .Config.Labels \"$k_version_label\" }}" "$image") ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.1f MB", $1 / 1e6 }')) in $(elapsed "$start")"
}

# A VM recipe: its files go to $k_vm_images/ltb-<name>/, built in a sibling directory and renamed
# into place only when complete, so that a failed build leaves the previous image as it was.
build_vm() {
  local name=$1 force=$2
  local dir="$k_recipes/$name"
  local dest="$k_vm_images/ltb-$name"
  local start hash current=''
  start=$(now_ms)
  hash=$(recipe_hash "$dir")
  if [[ -f $dest/.recipe ]]; then
    current=$(<"$dest/.recipe")
  fi
  if [[ $force -eq 0 && $current == "$hash" && -s $dest/image.json ]]; then
    log "$dest is up to date (recipe ${hash:0:12}), cache hit in $(elapsed "$start")"
    return 0
  fi
  log "building VM image $dest (recipe ${hash:0:12}${current:+, had ${current:0:12}})"
  mkdir -p "$k_vm_images"
  local work staging
  work=$(mktemp -d /var/tmp/ltb-image-"$name".XXXXXX)
  staging=$(mktemp -d "$k_vm_images/.ltb-$name.new.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap must remove this build's directories
  trap "rm -rf '$work' '$staging'" EXIT
  if ! bash "$dir/build.sh" "$staging" >"$work/build.log" 2>&1; then
    tail -n 60 "$work/build.log" | sed "s/^/  $name: /" >&2
    die "recipe $dir/build.sh failed (last lines above)"
  fi
  [[ -s $staging/image.json ]] || die "$dir/build.sh wrote no $staging/image.json"
  if command -v jq >/dev/null && ! jq -e . "$staging/image.json" >/dev/null 2>&1; then
    die "$dir/build.sh wrote an image.json that is not valid JSON"
  fi
  # An image.json without a version gets the recipe's, as a Docker image without a version label.
  if ! grep -q '"version"' "$staging/image.json"; then
    command -v jq >/dev/null ||
      die "$dir/build.sh wrote an image.json without a \"version\", and jq is missing to add one"
    jq --arg v "recipe-${hash:0:12}" '.version = $v' "$staging/image.json" >"$staging/image.json.new"
    mv "$staging/image.json.new" "$staging/image.json"
    log "$dir/build.sh wrote no version into image.json: it is recipe-${hash:0:12}"
  fi
  printf '%s\n' "$hash" >"$staging/.recipe"
  chmod 755 "$staging"
  local old=''
  if [[ -e $dest ]]; then
    old="$k_vm_images/.ltb-$name.old.$$"
    mv -T "$dest" "$old"
  fi
  mv -T "$staging" "$dest"
  if [[ -n $old ]]; then
    rm -rf "$old"
  fi
  rm -rf "$work"
  trap - EXIT
  log "built $dest ($(du -sh "$dest" | cut -f1)) in $(elapsed "$start")"
}

list_recipes() {
  local d
  for d in "$k_recipes"/*/; do
    [[ -f $d/build.sh ]] && basename "$d"
  done
  return 0
}

main() {
  local force=0 names=()
  while [[ $# -gt 0 ]]; do
    case $1 in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$k_self" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) names+=("$1") ;;
    esac
    shift
  done
  if [[ ${#names[@]} -eq 0 ]]; then
    mapfile -t names < <(list_recipes)
  fi
  [[ ${#names[@]} -gt 0 ]] || die "no recipes under $k_recipes"
  local start name kind kinds=()
  for name in "${names[@]}"; do
    require_recipe "$name"
    kind=$(recipe_kind "$name")
    kinds+=("$kind")
  done
  # Only Docker recipes need dockerd.
  if [[ " ${kinds[*]} " == *" docker "* ]]; then
    docker_answers || die "dockerd does not answer on /var/run/docker.sock; run 'scripts/setup.sh services'"
  fi
  start=$(now_ms)
  local i
  for i in "${!names[@]}"; do
    case ${kinds[$i]} in
    vm) build_vm "${names[$i]}" "$force" ;;
    *) build_one "${names[$i]}" "$force" ;;
    esac
  done
  log "${#names[@]} image(s) ready in $(elapsed "$start")"
}

main "$@"
