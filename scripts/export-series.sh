#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Export the Xen mapcache rewrite as a patch series onto a QEMU tree.
#
# The tree is one the user already has (QEMU 9.2 or a later master, with
# its build directory configured in build/).  What goes into each patch,
# the commit messages and the cover letter are data in scripts/series/:
# the manifest lists, per patch, the project files that ship and the
# fragments that go into QEMU's own files, at which anchor, per tree
# layout.  This script reads it, maps include paths to the tree's layout,
# commits the patches on a throwaway branch, each of which builds, and
# writes the series with `git format-patch`.  It never copies anything
# from the QEMU tree into this project.

set -euo pipefail

BRANCH=xen-mapcache-series
PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERIES=$PROJECT/scripts/series
MANIFEST=$SERIES/manifest

usage() {
    cat <<EOF
Usage: $0 [--check] [--force] [--noxen-build DIR] QEMU_TREE OUTDIR
       $0 --lint

Copy the Xen mapcache rewrite into the QEMU git tree QEMU_TREE (a clean
work tree of QEMU 9.2 or later), commit it there as a series of patches
on the branch '$BRANCH', created from the tree's HEAD, and write the
series with a cover letter to OUTDIR with 'git format-patch'.  Every
patch is checked with the tree's scripts/checkpatch.pl.  What each patch
holds is in $MANIFEST.

  --check   then, in QEMU_TREE, build qemu-system-i386 at every patch of
            the series (ninja -C build qemu-system-i386) and, from the
            patch that adds them, run the mapcache unit tests there;
            at the end, run them through 'make check-unit' and run
            qmp-cmd-test; ask the built QEMU for x-query-xen-mapcache and
            'info xen-mapcache' over QMP; and start it with both command
            lines libxl builds plus '-machine mapcache-max-size=SIZE' (a
            size below one bucket must be refused, 64M must fail only as
            QEMU fails without a Xen host); then run the end-to-end tests
            (make e2e) on it, on a simulated Xen host, at the default
            limit and at 64 MiB.  The tree must be configured in
            QEMU_TREE/build, with --enable-xen.
  --noxen-build DIR
            with --check, also build qemu-system-i386 of the series in
            DIR, a build directory of QEMU_TREE configured without Xen,
            and ask it the same (the stub answers).
  --force   replace an existing '$BRANCH' branch and the patches
            already in OUTDIR.
  --lint    only check the manifest: every file, fragment and message it
            names exists, every fragment and message is used.

The tree is left on the branch '$BRANCH'; 'git checkout -' goes back.

The cover letter's figures come from the end-to-end benchmark (the
series build on a simulated Xen host): the file named by
XEN_MAPCACHE_FIGURES, with the command that produced them, goes where
cover-letter.txt says @FIGURES@; by default, scripts/series/e2e-figures.txt,
the figures kept with the series.  Without it, the cover letter keeps a
marked place, "[FIGURES TO COME ...]", and the script says so.
EOF
}

die() {
    echo "export-series: error: $*" >&2
    exit 1
}

note() {
    echo "export-series: $*"
}

check=false
force=false
lint=false
noxen_build=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --check) check=true ;;
    --force) force=true ;;
    --lint) lint=true ;;
    --noxen-build)
        [ $# -ge 2 ] || die "--noxen-build needs a directory"
        noxen_build=$2
        shift
        ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) args+=("$1") ;;
    esac
    shift
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# ---------------------------------------------------------------------------
# The manifest.

# The directives, one a line, without comments and blank lines.
manifest_lines() {
    grep -v -e '^#' -e '^[[:space:]]*$' "$MANIFEST"
}

# "/re1/ /re2/" -> "re1\nre2" (an anchor cannot contain "/ /").
anchor_lines() {
    local s=$1
    case "$s" in
    /*/) ;;
    *) die "manifest: anchors must be /regex/ ...: '$s'" ;;
    esac
    s=${s#/}
    s=${s%/}
    printf '%s' "${s//\/ \//$'\n'}"
}

# A directive without its first word, whitespace kept.
directive_args() {
    local op args
    read -r op args <<< "$1"
    printf '%s' "$args"
}

# The layout a directive applies to: "insert[9.2]" -> 9.2, "insert" -> "".
directive_layout() {
    case "$1" in
    *\[*\]) local l=${1#*[}; echo "${l%]}" ;;
    *) echo "" ;;
    esac
}

# The QEMU section the project's MAINTAINERS adds lines to (the line
# above its first F: line), and those lines.
maintainers_section() {
    awk '/^F: / { print prev; exit } { prev = $0 }' "$PROJECT/MAINTAINERS"
}
maintainers_f_lines() {
    awk -v title="$(maintainers_section)" '
        $0 == title { p = 1; next }
        p && /^F: / { print }
        p && /^$/ { exit }
    ' "$PROJECT/MAINTAINERS"
}

lint_manifest() {
    local op a b c rest used_frags used_msgs patches=0 files=0 frags=0 f
    used_frags=$STAGE/used-frags
    used_msgs=$STAGE/used-msgs
    : > "$used_frags"
    : > "$used_msgs"
    [ -f "$MANIFEST" ] || die "$MANIFEST is missing"
    [ -f "$SERIES/cover-letter.txt" ] || die "$SERIES/cover-letter.txt is missing"
    while read -r line; do
        read -r op a b c rest <<< "$line"
        case "$op" in
        patch)
            [ -f "$SERIES/$a" ] || die "manifest: no message $SERIES/$a"
            head -n1 "$SERIES/$a" | grep -q '^xen: mapcache: ' ||
                die "$a: the subject must start with 'xen: mapcache: '"
            echo "$a" >> "$used_msgs"
            patches=$((patches + 1))
            ;;
        file)
            [ -f "$PROJECT/$a" ] || die "manifest: no project file $a"
            files=$((files + 1))
            ;;
        insert|insert\[9.2\]|insert\[master\])
            [ -f "$SERIES/fragments/$b" ] ||
                die "manifest: no fragment fragments/$b"
            echo "$b" >> "$used_frags"
            case "$c" in
            end) [ -z "$rest" ] || die "manifest: 'end' takes no anchor" ;;
            after|before|replace) anchor_lines "$rest" >/dev/null ;;
            *) die "manifest: unknown mode '$c'" ;;
            esac
            frags=$((frags + 1))
            ;;
        section)
            [ -f "$PROJECT/$b" ] || die "manifest: no project file $b"
            anchor_lines "$c${rest:+ $rest}" >/dev/null
            ;;
        maintainers)
            anchor_lines "$(directive_args "$line")" >/dev/null
            [ -n "$(maintainers_f_lines)" ] ||
                die "MAINTAINERS: no F: lines under \"$(maintainers_section)\""
            ! grep -q '^[MRS]: ' "$PROJECT/MAINTAINERS" ||
                die "MAINTAINERS: only F: lines, for QEMU's section"
            ;;
        *) die "manifest: unknown directive '$op'" ;;
        esac
        [ "$op" = patch ] || [ $patches -gt 0 ] ||
            die "manifest: '$op' before the first 'patch'"
    done < <(manifest_lines)
    for f in "$SERIES"/fragments/*; do
        grep -qxF "$(basename "$f")" "$used_frags" ||
            die "fragments/$(basename "$f") is not used by the manifest"
    done
    for f in "$SERIES"/*.msg; do
        grep -qxF "$(basename "$f")" "$used_msgs" ||
            die "$(basename "$f") is not used by the manifest"
    done
    if grep -n '[[:space:]]$' "$SERIES"/*.msg "$SERIES/cover-letter.txt"; then
        die "trailing whitespace in the messages (above)"
    fi
    note "manifest: $patches patches, $files files, $frags fragments: OK"
}

lint_manifest
if $lint; then
    exit 0
fi

if [ ${#args[@]} -ne 2 ]; then
    usage >&2
    exit 2
fi
TREE=$(cd "${args[0]}" 2>/dev/null && pwd) ||
    die "${args[0]}: no such directory"
OUTDIR=${args[1]}
if [ -n "$noxen_build" ]; then
    $check || die "--noxen-build goes with --check"
    noxen_build=$(cd "$noxen_build" 2>/dev/null && pwd) ||
        die "$noxen_build: no such directory"
fi

tgit() {
    git -C "$TREE" "$@"
}

for f in hw/xen/xen-mapcache.c include/sysemu/xen-mapcache.h \
         hw/xen/trace-events MAINTAINERS; do
    [ -f "$PROJECT/$f" ] || die "$PROJECT/$f is missing"
done

# ---------------------------------------------------------------------------
# The figures, for the cover letter: from the end-to-end benchmark, never
# made up here.  Without them, a marked place that nobody can miss.

figures() {
    local kept=$SERIES/e2e-figures.txt

    if [ -z "${XEN_MAPCACHE_FIGURES:-}" ] && [ -s "$kept" ]; then
        cat "$kept"
        return
    fi
    if [ -n "${XEN_MAPCACHE_FIGURES:-}" ]; then
        [ -s "$XEN_MAPCACHE_FIGURES" ] ||
            die "XEN_MAPCACHE_FIGURES: $XEN_MAPCACHE_FIGURES is empty or missing"
        cat "$XEN_MAPCACHE_FIGURES"
        return
    fi
    echo "[FIGURES TO COME from the end-to-end benchmark, with the command"
    echo " that produced them: set XEN_MAPCACHE_FIGURES to their file.]"
}

# ---------------------------------------------------------------------------
# The tree.

tgit rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    die "$TREE is not a git work tree"
[ "$(tgit rev-parse --show-toplevel)" = "$TREE" ] ||
    die "$TREE is not the top of its git work tree"
for f in hw/xen/xen-mapcache.c hw/xen/trace-events MAINTAINERS VERSION \
         tests/unit/meson.build scripts/checkpatch.pl; do
    [ -f "$TREE/$f" ] || die "$TREE does not look like QEMU: no $f"
done
[ -z "$(tgit status --porcelain --untracked-files=no)" ] ||
    die "$TREE has uncommitted changes; commit or stash them first"
name=$(tgit config user.name || true)
email=$(tgit config user.email || true)
[ -n "$name" ] && [ -n "$email" ] ||
    die "set user.name and user.email (git config) in $TREE: they sign the patches"
[ "$(tgit symbolic-ref --short -q HEAD || true)" != "$BRANCH" ] ||
    die "$TREE is on $BRANCH already: 'git -C $TREE checkout -' first"
if tgit rev-parse -q --verify "refs/heads/$BRANCH" >/dev/null && ! $force; then
    die "branch $BRANCH exists in $TREE (--force replaces it)"
fi
if $check; then
    [ -f "$TREE/build/build.ninja" ] ||
        die "--check: $TREE/build is not a configured build directory"
    grep -q '^#define CONFIG_XEN_BACKEND' "$TREE/build/config-host.h" ||
        die "--check: $TREE/build is not configured with --enable-xen"
fi
if [ -n "$noxen_build" ]; then
    [ -f "$noxen_build/build.ninja" ] ||
        die "--noxen-build: $noxen_build is not a configured build directory"
    ! grep -q '^#define CONFIG_XEN_BACKEND' "$noxen_build/config-host.h" ||
        die "--noxen-build: $noxen_build is configured with Xen"
fi
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
if compgen -G "$OUTDIR/[0-9][0-9][0-9][0-9]-*.patch" >/dev/null; then
    $force || die "$OUTDIR holds patches already (--force replaces them)"
fi

figures > "$STAGE/figures"

# ---------------------------------------------------------------------------
# Layout: QEMU 9.2 or master (see the include map in the project's notes).

if [ -d "$TREE/include/sysemu" ]; then
    layout=9.2
else
    layout=master
fi
note "layout: $layout"

sed_prog=""
map_dir() {     # whole include directories: sysemu/ -> system/
    if [ ! -d "$TREE/include/$1" ] && [ -d "$TREE/include/$2" ]; then
        sed_prog+="s|\\([\"<]\\)$1/|\\1$2/|g;s|include/$1/|include/$2/|g;"
        note "layout: $1/ -> $2/"
    fi
}
map_header() {  # single headers: exec/memory.h -> system/memory.h
    local from=${1//./\\.}
    if [ ! -f "$TREE/include/$1" ] && [ -f "$TREE/include/$2" ]; then
        sed_prog+="s|\\([\"<]\\)$from|\\1$2|g;s|include/$from|include/$2|g;"
        note "layout: $1 -> $2"
    fi
}
map_dir sysemu system
map_header exec/memory.h system/memory.h
map_header exec/ram_addr.h system/ram_addr.h
map_header exec/ramlist.h system/ramlist.h
map_header block/aio.h qemu/aio.h

qemu_path() {   # a 9.2 path in this tree's layout
    echo "$1" | sed -e "$sed_prog"
}

# The release after the tree's VERSION (three a year: x.0, x.1, x.2).
next_version() {
    local major minor
    IFS=. read -r major minor _ < "$TREE/VERSION"
    if [ "$minor" -ge 2 ]; then
        echo "$((major + 1)).0"
    else
        echo "$major.$((minor + 1))"
    fi
}
QEMU_NEXT_VERSION=$(next_version)

header=$(qemu_path include/sysemu/xen-mapcache.h)
[ -f "$TREE/$header" ] || die "$TREE has no $header"
# Master declares the functions unconditionally (hw/xen/xen_stubs.c
# stands in when Xen is not built): the inline fallbacks go.
cut_fallbacks=false
if ! grep -q CONFIG_XEN_IS_POSSIBLE "$TREE/$header"; then
    cut_fallbacks=true
    note "layout: $header without the inline fallbacks"
fi

# Print a header without its '#ifdef CONFIG_XEN_IS_POSSIBLE' block's
# '#else' part: keep what is between '#ifdef' and the matching '#else',
# drop the rest up to the matching '#endif' (nesting counted).
cut_fallback_block() {
    awk '
        function directive(s) { return s ~ /^[ \t]*#[ \t]*(if|ifdef|ifndef)[ \t(]/ ? 1 : \
                                       s ~ /^[ \t]*#[ \t]*endif/ ? -1 : 0 }
        state == 0 && /^#ifdef CONFIG_XEN_IS_POSSIBLE[ \t]*$/ {
            state = 1; depth = 0; found++; skipblank = 1; next
        }
        state == 1 {
            d = directive($0)
            if (depth == 0 && $0 ~ /^[ \t]*#[ \t]*else/) { state = 2; next }
            if (depth == 0 && d < 0) { exit 3 }
            depth += d
        }
        state == 2 {
            d = directive($0)
            if (depth == 0 && d < 0) { state = 0; skipblank = 1; next }
            depth += d
            next
        }
        skipblank && /^$/ { skipblank = 0; if (lastblank) next; }
        { skipblank = 0; lastblank = ($0 == ""); print }
        END { if (found != 1 || state != 0) exit 3 }
    ' "$1"
}

# ---------------------------------------------------------------------------
# The directives.

# 'file SRC [DST]': copy project file SRC to QEMU path DST (9.2 layout).
install_file() {
    local src=$PROJECT/$1 dst inc
    dst=$(qemu_path "${2:-$1}")
    mkdir -p "$(dirname "$TREE/$dst")"
    sed -e "$sed_prog" "$src" > "$STAGE/file"
    if [ "$dst" = "$header" ] && $cut_fallbacks; then
        cut_fallback_block "$STAGE/file" > "$STAGE/cut" ||
            die "$1: cannot find the CONFIG_XEN_IS_POSSIBLE fallback block"
        mv "$STAGE/cut" "$STAGE/file"
    fi
    cp "$STAGE/file" "$TREE/$dst"
    chmod 644 "$TREE/$dst"
    tgit add "$dst"
    echo "$dst" >> "$STAGE/installed"
}

# Every quoted include of a C file copied into this patch must exist in
# the tree by now, but those under '#ifdef XEN_MAPCACHE_STANDALONE',
# which only the standalone build defines.
check_includes() {
    local dst inc
    touch "$STAGE/installed"
    while read -r dst; do
        case "$dst" in *.c|*.h) ;; *) continue ;; esac
        awk '/^#ifdef XEN_MAPCACHE_STANDALONE/ { skip = 1 }
             !skip { print }
             skip && /^#endif/ { skip = 0 }' "$TREE/$dst" |
        sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' |
        while read -r inc; do
            case "$inc" in qapi/*) continue ;; esac   # generated
            [ -f "$TREE/include/$inc" ] ||
                [ -f "$TREE/$(dirname "$dst")/$inc" ] || [ -f "$TREE/$inc" ] ||
                die "$dst includes \"$inc\", which $TREE does not have"
        done
    done < "$STAGE/installed"
    : > "$STAGE/installed"
}

# Put file $3 into the tree's file $1, at the line the anchors ($4,
# one regex a line) lead to, as mode $2 says.
insert_text() {
    local dst=$1 mode=$2 text=$3
    ANCHORS=$4 awk -v mode="$mode" -v text="$text" '
        BEGIN {
            n = mode == "end" ? 0 : split(ENVIRON["ANCHORS"], anchor, "\n")
            k = 1
        }
        { line[NR] = $0 }
        n && !target && $0 ~ anchor[k] { if (k == n) target = NR; else k++ }
        function put() { while ((getline l < text) > 0) print l; close(text) }
        END {
            if (n && !target) exit 3
            for (i = 1; i <= NR; i++) {
                if (i == target && mode == "before") put()
                if (i == target && mode == "replace") { put(); continue }
                print line[i]
                if (i == target && mode == "after") put()
            }
            if (mode == "end") put()
        }
    ' "$TREE/$dst" > "$STAGE/inserted" || return 1
    cp "$STAGE/inserted" "$TREE/$dst"
    tgit add "$dst"
}

# 'insert FILE FRAGMENT MODE ANCHOR...'
install_fragment() {
    local dst frag=$SERIES/fragments/$2 mode=$3 anchors=
    dst=$(qemu_path "$1")
    [ -f "$TREE/$dst" ] || die "fragments/$2: $TREE has no $dst"
    sed -e "$sed_prog" -e "s/@QEMU_NEXT_VERSION@/$QEMU_NEXT_VERSION/g" \
        "$frag" > "$STAGE/fragment"
    if grep -n '@[A-Z_]*@' "$STAGE/fragment"; then
        die "fragments/$2: unknown placeholder (above)"
    fi
    if [ "$mode" != end ]; then
        anchors=$(anchor_lines "$4" | sed -e "$sed_prog")
    fi
    insert_text "$dst" "$mode" "$STAGE/fragment" "$anchors" ||
        die "fragments/$2: anchor $4 not found in $dst"
}

# 'section FILE SRC /START/': replace the section of FILE that starts at
# START, up to the next '# ' line, with the section of SRC from START on.
install_section() {
    local dst=$1 src=$PROJECT/$2 start ours=$STAGE/section
    start=$(anchor_lines "$3")
    START=$start awk '$0 ~ ENVIRON["START"] { p = 1 } p' "$src" |
        awk 'NF { for (; blanks > 0; blanks--) print ""; print; next }
             { blanks++ }' > "$ours"
    [ -s "$ours" ] || die "$2: no section $3"
    START=$start awk '$0 ~ ENVIRON["START"] { found = 1 } END { exit !found }' \
        "$TREE/$dst" || die "$dst: no section $3 in $TREE"
    START=$start awk -v ours="$ours" '
        $0 ~ ENVIRON["START"] {
            while ((getline line < ours) > 0) print line
            skip = 1; next
        }
        skip && /^# / && lastblank { skip = 0; print "" }
        { lastblank = ($0 == "") }
        !skip { print }
    ' "$TREE/$dst" > "$STAGE/section-file"
    cp "$STAGE/section-file" "$TREE/$dst"
    tgit add "$dst"
}

# 'maintainers ANCHOR...': the project's F: lines whose files the tree
# has now and that its MAINTAINERS lacks, before the line the anchors
# lead to (the blank line that ends QEMU's Xen section).  No section of
# our own: QEMU's Xen maintainers maintain the mapcache.
install_maintainers() {
    local lines=$STAGE/maintainers line pat
    : > "$lines"
    while IFS= read -r line; do
        pat=$(qemu_path "${line#F: }")
        [ -n "$(tgit ls-files -- "$pat")" ] || continue
        grep -qxF "F: $pat" "$TREE/MAINTAINERS" || echo "F: $pat" >> "$lines"
    done < <(maintainers_f_lines)
    [ -s "$lines" ] || return 0
    insert_text MAINTAINERS before "$lines" "$(anchor_lines "$1")" ||
        die "MAINTAINERS: anchor $1 not found in $TREE"
}

# Every file this patch adds must be in the section, as QEMU's own
# scripts/get_maintainer.pl reads MAINTAINERS: else a line is missing
# from the project's MAINTAINERS.
check_maintainers() {
    local section f
    section=$(maintainers_section)
    [ -x "$TREE/scripts/get_maintainer.pl" ] || return 0
    while read -r f; do
        (cd "$TREE" && scripts/get_maintainer.pl --no-git --no-git-fallback \
             -f "$f" 2>/dev/null) | grep -qF "$section" ||
            die "$f is not in MAINTAINERS' \"$section\": add an F: line" \
                "for it to $PROJECT/MAINTAINERS"
    done < <(tgit diff --cached --name-only --diff-filter=A)
}

# The areas of the unit test's paths, for its commit message.
test_areas() {
    local areas
    areas=$(grep -o '"/xen-mapcache/[a-z0-9_-]*/' \
                "$PROJECT/tests/unit/test-xen-mapcache.c" |
            sed -e 's|"/xen-mapcache/||; s|/$||' | sort -u |
            paste -sd, - | sed -e 's/,/, /g')
    echo "The test paths are /xen-mapcache/<area>/<case>, with these" \
         "areas: ${areas:-(none)}." | fmt -w 72
}

commit() {
    local msg=$SERIES/$1 areas
    check_includes
    check_maintainers
    areas=$(test_areas)
    awk -v areas="$areas" '$0 == "@TEST_AREAS@" { print areas; next } { print }' \
        "$msg" > "$STAGE/msg"
    if grep -n '@[A-Z_]*@' "$STAGE/msg"; then
        die "$1: unknown placeholder (above)"
    fi
    tgit commit -q -s -F "$STAGE/msg" || die "git commit failed"
    note "committed: $(tgit log -1 --format=%s)"
}

# ---------------------------------------------------------------------------
# The series.

base=$(tgit rev-parse HEAD)
tgit checkout -q -B "$BRANCH" "$base"
note "branch $BRANCH from $(tgit log -1 --format='%h ("%s")' "$base")"

msg=
while read -r line; do
    read -r op a b c rest <<< "$line"
    want=$(directive_layout "$op")
    if [ -n "$want" ] && [ "$want" != "$layout" ]; then
        continue
    fi
    case "$op" in
    patch)
        [ -z "$msg" ] || commit "$msg"
        msg=$a
        ;;
    file) install_file "$a" "$b" ;;
    insert*) install_fragment "$a" "$b" "$c" "$rest" ;;
    section) install_section "$a" "$b" "$c${rest:+ $rest}" ;;
    maintainers) install_maintainers "$(directive_args "$line")" ;;
    esac
done < <(manifest_lines)
commit "$msg"

# ---------------------------------------------------------------------------
# The patches and the cover letter.

rm -f "$OUTDIR"/[0-9][0-9][0-9][0-9]-*.patch
tgit format-patch -q --cover-letter -o "$OUTDIR" "$base..$BRANCH"
cover=$(ls "$OUTDIR"/0000-cover-letter.patch)

{
    tail -n +3 "$SERIES/cover-letter.txt" |
    awk -v figures="$STAGE/figures" \
        -v base="$(tgit log -1 --format='%h ("%s")' "$base")" '
        $0 == "@FIGURES@" {
            while ((getline l < figures) > 0) {
                sub(/[ \t]+$/, "", l)
                print (l == "" ? "" : "  " l)
            }
            next
        }
        { gsub(/@BASE@/, base); print }
    '
} > "$STAGE/blurb"
if grep -n '@[A-Z_]*@' "$STAGE/blurb"; then
    die "cover-letter.txt: unknown placeholder (above)"
fi

awk -v blurb="$STAGE/blurb" -v subject="$(head -n1 "$SERIES/cover-letter.txt")" '
    /\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subject) }
    /^\*\*\* BLURB HERE \*\*\*$/ {
        while ((getline line < blurb) > 0) print line
        next
    }
    { print }
' "$cover" > "$STAGE/cover"
cp "$STAGE/cover" "$cover"
if grep -n -e '\*\*\* .* HERE \*\*\*' "$cover"; then
    die "the cover letter kept a placeholder (above)"
fi
if grep -q 'FIGURES TO COME' "$cover"; then
    echo "export-series: warning: the cover letter's figures are still to" \
         "come (XEN_MAPCACHE_FIGURES)" >&2
fi

note "patches in $OUTDIR:"
ls "$OUTDIR"/[0-9][0-9][0-9][0-9]-*.patch | sed -e 's/^/  /'

# ---------------------------------------------------------------------------
# checkpatch: 0 errors, 0 warnings on every patch.

failed=0
for p in "$OUTDIR"/[0-9][0-9][0-9][0-9]-*.patch; do
    case "$p" in */0000-cover-letter.patch) continue ;; esac
    # --strict: warnings fail too.  9.2 prints a total, master nothing.
    if out=$(cd "$TREE" && scripts/checkpatch.pl --strict "$p" 2>&1) &&
       ! echo "$out" | grep -q -E '^(ERROR|WARNING)'; then
        total=$(echo "$out" | grep '^total:' || true)
        note "checkpatch: $(basename "$p"): ${total:-clean}"
    else
        echo "$out"
        note "checkpatch: $(basename "$p"): FAILED"
        failed=1
    fi
done
[ $failed = 0 ] || echo "export-series: warning: checkpatch found problems" >&2

# ---------------------------------------------------------------------------
# --check: every patch builds; the unit tests and qmp-cmd-test pass; the
# built QEMU answers over QMP.

# Ask QEMU in build directory $1 for the mapcache over QMP; print the
# exchange; fail unless both answers are text containing $2.
qmp_exchange() {
    local build=$1 want=$2 out
    out=$(printf '%s\n' \
        '{"execute": "qmp_capabilities"}' \
        '{"execute": "x-query-xen-mapcache"}' \
        '{"execute": "human-monitor-command", "arguments": {"command-line": "info xen-mapcache"}}' \
        '{"execute": "quit"}' |
        timeout 60 "$build/qemu-system-i386" -machine none -accel qtest \
            -nodefaults -display none -qmp stdio 2>&1) || {
        echo "$out"
        die "$build/qemu-system-i386 failed"
    }
    echo "$out" | sed -e 's/^/  /'
    [ "$(echo "$out" | grep -c "\"return\": {\"human-readable-text\": \"$want")" = 1 ] ||
        die "x-query-xen-mapcache did not answer \"$want...\""
    [ "$(echo "$out" | grep -c "\"return\": \"$want")" = 1 ] ||
        die "info xen-mapcache did not answer \"$want...\""
}

# Start the built QEMU with "$@", -nodefaults -display none; print what
# it said (it fails without a Xen host).
run_qemu() {
    timeout 60 "$TREE/build/qemu-system-i386" "$@" -nodefaults \
        -display none 2>&1 && echo "(exit status 0)"
    true
}

# mapcache-max-size: a property of the Xen accelerator, reached from both
# command lines libxl builds with a second -machine option, as a user
# adds it (device_model_args).  A size below one bucket is refused where
# the accelerator is created; 64M is accepted, and QEMU then fails as it
# does without the option, setting up Xen (there is no Xen host here).
check_knob() {
    local out base libxl size
    out=$(printf '%s\n' \
        '{"execute": "qmp_capabilities"}' \
        '{"execute": "qom-list-properties", "arguments": {"typename": "xen-accel"}}' \
        '{"execute": "quit"}' |
        run_qemu -machine none -accel qtest -qmp stdio)
    echo "$out" | grep -o '{[^{}]*"name": "mapcache-max-size"[^{}]*}' |
        sed -e 's/^/  /' | grep . ||
        die "xen-accel has no mapcache-max-size property"
    for libxl in xenfv,suppress-vmdesc=on pc,accel=xen,suppress-vmdesc=on; do
        base=$(run_qemu -machine "$libxl")
        echo "  -machine $libxl:"
        echo "$base" | sed -e 's/^/    /'
        echo "$base" | grep -q 'failed to initialize xen' ||
            die "-machine $libxl: QEMU did not reach Xen's setup"
        for size in 512K 64M; do
            out=$(run_qemu -machine "$libxl" -machine mapcache-max-size=$size)
            echo "  -machine $libxl -machine mapcache-max-size=$size:"
            echo "$out" | sed -e 's/^/    /'
            if [ $size = 512K ]; then
                echo "$out" | grep -q 'less than one bucket' ||
                    die "mapcache-max-size=$size: not refused as expected"
            else
                [ "$out" = "$base" ] ||
                    die "mapcache-max-size=$size: QEMU did not fail as" \
                        "without the option"
            fi
        done
    done
    out=$(run_qemu -machine none -accel xen,mapcache-max-size=512K)
    echo "  -machine none -accel xen,mapcache-max-size=512K:"
    echo "$out" | sed -e 's/^/    /'
    echo "$out" | grep -q 'less than one bucket' ||
        die "-accel xen,mapcache-max-size=512K: not refused as expected"
}

# The mapcache's unit tests that tests/unit/meson.build has now.
unit_tests_here() {
    { grep -o "'test-xen-mapcache[a-z-]*': \[" "$TREE/tests/unit/meson.build" ||
          true; } | sed -e "s/': \[//; s/^'//" | tr '\n' ' '
}

if $check; then
    # The tree's own meson: the one that configured build/.
    tree_meson=$TREE/build/pyvenv/bin/meson
    [ -x "$tree_meson" ] || tree_meson=meson
    for c in $(tgit rev-list --reverse "$base..$BRANCH"); do
        tgit checkout -q "$c"
        note "build: $(tgit log -1 --format='%h %s')"
        ninja -C "$TREE/build" qemu-system-i386 > "$STAGE/build.log" 2>&1 || {
            tail -n 40 "$STAGE/build.log"
            tgit checkout -q "$BRANCH"
            die "qemu-system-i386 does not build at $(tgit log -1 --format=%h "$c")"
        }
        tail -n 1 "$STAGE/build.log"
        tests=$(unit_tests_here)
        [ -n "$tests" ] || continue
        # shellcheck disable=SC2086
        ninja -C "$TREE/build" $(printf 'tests/unit/%s ' $tests) \
            > "$STAGE/build.log" 2>&1 || {
            tail -n 40 "$STAGE/build.log"
            tgit checkout -q "$BRANCH"
            die "the unit tests do not build at $(tgit log -1 --format=%h "$c")"
        }
        # shellcheck disable=SC2086
        (cd "$TREE/build" &&
         "$tree_meson" test --no-rebuild --suite unit --print-errorlogs \
             $tests) > "$STAGE/unit.log" 2>&1 || {
            cat "$STAGE/unit.log"
            tgit checkout -q "$BRANCH"
            die "the unit tests fail at $(tgit log -1 --format=%h "$c")"
        }
        grep -E '^ *[0-9]+/[0-9]+ ' "$STAGE/unit.log" | sed -e 's/^/  /'
    done
    tgit checkout -q "$BRANCH"

    tests=$(unit_tests_here)
    note "make check-unit MTESTARGS='$tests'"
    make -C "$TREE/build" check-unit MTESTARGS="$tests" 2>&1 |
        tee "$STAGE/check.log" || die "make check-unit failed"
    for t in $tests; do
        grep -q "$t  *OK" "$STAGE/check.log" ||
            die "make check-unit did not pass $t"
    done

    note "qmp-cmd-test"
    ninja -C "$TREE/build" tests/qtest/qmp-cmd-test > "$STAGE/build.log" 2>&1 || {
        tail -n 40 "$STAGE/build.log"
        die "tests/qtest/qmp-cmd-test does not build"
    }
    (cd "$TREE/build" &&
     "$tree_meson" test --no-rebuild --print-errorlogs \
         qtest-i386/qmp-cmd-test) 2>&1 |
        tee "$STAGE/qtest.log" || die "qmp-cmd-test failed"
    QTEST_QEMU_BINARY=$TREE/build/qemu-system-i386 \
        "$TREE/build/tests/qtest/qmp-cmd-test" --tap -k 2>&1 |
        grep '/qmp/x-query-xen-mapcache$' ||
        die "qmp-cmd-test did not run x-query-xen-mapcache"
    grep -q 'qmp-cmd-test  *OK' "$STAGE/qtest.log" ||
        die "qmp-cmd-test did not pass"

    note "QMP exchange with $TREE/build/qemu-system-i386:"
    qmp_exchange "$TREE/build" "The Xen mapcache is not set up"
    note "mapcache-max-size, from libxl's command lines:"
    check_knob
    note "end to end, on the simulated Xen host (make e2e):"
    make -C "$PROJECT" e2e QEMU="$TREE/build/qemu-system-i386" ||
        die "the end-to-end tests failed on the series build"
    make -C "$PROJECT" e2e QEMU="$TREE/build/qemu-system-i386" \
        MACHINE_OPTS=mapcache-max-size=64M ||
        die "the end-to-end tests failed on the series build at 64 MiB"

    if [ -n "$noxen_build" ]; then
        note "build without Xen: $noxen_build"
        ninja -C "$noxen_build" qemu-system-i386 > "$STAGE/build.log" 2>&1 || {
            tail -n 40 "$STAGE/build.log"
            die "qemu-system-i386 does not build without Xen"
        }
        tail -n 1 "$STAGE/build.log"
        note "QMP exchange with $noxen_build/qemu-system-i386 (the stub):"
        qmp_exchange "$noxen_build" "The Xen mapcache is not available"
    fi
    note "check: done"
fi

note "$TREE is on branch $BRANCH ('git checkout -' goes back)"
[ $failed = 0 ] || die "checkpatch found problems (see above)"
note "done"
