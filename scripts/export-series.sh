#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Export the Xen mapcache rewrite as a patch series onto a QEMU tree.
#
# The tree is one the user already has (QEMU 9.2 or a later master, with
# its build directory configured in build/).  The script copies this
# project's files into it, maps their include paths to the tree's layout,
# commits them on a throwaway branch as a series of patches that each
# build, and writes the series with `git format-patch`.  It never copies
# anything from the QEMU tree into this project.

set -euo pipefail

BRANCH=xen-mapcache-series
PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    cat <<EOF
Usage: $0 [--check] [--force] QEMU_TREE OUTDIR

Copy the Xen mapcache rewrite into the QEMU git tree QEMU_TREE (a clean
work tree of QEMU 9.2 or later), commit it there as a series of patches
on the branch '$BRANCH', created from the tree's HEAD, and write the
series with a cover letter to OUTDIR with 'git format-patch'.  Every
patch is checked with the tree's scripts/checkpatch.pl.

  --check   then, in QEMU_TREE, build qemu-system-i386 at every patch of
            the series (ninja -C build qemu-system-i386) and run the
            mapcache unit test through 'make check-unit'.  The tree must
            be configured in QEMU_TREE/build, with --enable-xen.
  --force   replace an existing '$BRANCH' branch and the patches
            already in OUTDIR.

The tree is left on the branch '$BRANCH'; 'git checkout -' goes back.

Environment:
  XEN_MAPCACHE_BENCH_OUTPUT  a file with the benchmark's output, for the
                             cover letter (default: run
                             $PROJECT/build/bench/xen-mapcache-bench if it
                             has been built)
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
args=()
for arg in "$@"; do
    case "$arg" in
    --check) check=true ;;
    --force) force=true ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $arg" ;;
    *) args+=("$arg") ;;
    esac
done
if [ ${#args[@]} -ne 2 ]; then
    usage >&2
    exit 2
fi
TREE=$(cd "${args[0]}" 2>/dev/null && pwd) ||
    die "${args[0]}: no such directory"
OUTDIR=${args[1]}

tgit() {
    git -C "$TREE" "$@"
}

# ---------------------------------------------------------------------------
# What we export, and where it goes in a 9.2 tree.

# project file -> QEMU path (9.2 layout), one pair a line, per patch
PATCH1_FILES="include/sysemu/xen-mapcache.h include/sysemu/xen-mapcache.h"
PATCH2_FILES="hw/xen/xen-mapcache.c hw/xen/xen-mapcache.c"
PATCH3_FILES="tests/unit/test-xen-mapcache.c tests/unit/test-xen-mapcache.c
tests/unit/test-xen-mapcache-stubs.c tests/unit/test-xen-mapcache-stubs.c
tests/unit/test-xen-mapcache-stubs.h tests/unit/test-xen-mapcache-stubs.h
tests/unit/test-xen-mapcache-fake-xen.c tests/unit/test-xen-mapcache-fake-xen.c
tests/unit/test-xen-mapcache-fake-xen.h tests/unit/test-xen-mapcache-fake-xen.h"
PATCH4_FILES="docs/devel/xen-mapcache.rst docs/devel/xen-mapcache.rst"

for f in hw/xen/xen-mapcache.c include/sysemu/xen-mapcache.h \
         hw/xen/trace-events MAINTAINERS docs/devel/xen-mapcache.rst; do
    [ -f "$PROJECT/$f" ] || die "$PROJECT/$f is missing"
done
with_test=true
for f in tests/unit/test-xen-mapcache.c tests/unit/test-xen-mapcache-stubs.c \
         tests/unit/test-xen-mapcache-fake-xen.c tests/unit/test-xen-mapcache-fake-xen.h; do
    if [ ! -f "$PROJECT/$f" ]; then
        with_test=false
        echo "export-series: warning: $PROJECT/$f is missing:" \
             "the series will have no unit test" >&2
    fi
done
if $check && ! $with_test; then
    die "--check needs the unit test"
fi

# ---------------------------------------------------------------------------
# The tree.

tgit rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    die "$TREE is not a git work tree"
[ "$(tgit rev-parse --show-toplevel)" = "$TREE" ] ||
    die "$TREE is not the top of its git work tree"
for f in hw/xen/xen-mapcache.c hw/xen/trace-events MAINTAINERS \
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
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
if compgen -G "$OUTDIR/[0-9][0-9][0-9][0-9]-*.patch" >/dev/null; then
    $force || die "$OUTDIR holds patches already (--force replaces them)"
    rm -f "$OUTDIR"/[0-9][0-9][0-9][0-9]-*.patch
fi

# ---------------------------------------------------------------------------
# Layout: QEMU 9.2 or master (see the include map in the project's notes).

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

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# Copy project file $1 to QEMU path $2 (9.2 layout) in the tree.
install_file() {
    local src=$PROJECT/$1 dst
    dst=$(qemu_path "$2")
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

# Every quoted include of a copied C file must exist in the tree.
check_includes() {
    local dst=$1 inc
    case "$dst" in *.c|*.h) ;; *) return 0 ;; esac
    sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$TREE/$dst" |
    while read -r inc; do
        case "$inc" in qapi/*) continue ;; esac   # generated
        [ -f "$TREE/include/$inc" ] || [ -f "$TREE/$(dirname "$dst")/$inc" ] ||
            [ -f "$TREE/$inc" ] ||
            die "$dst includes \"$inc\", which $TREE does not have"
    done
}

install_files() {
    local src dst
    : > "$STAGE/installed"
    while read -r src dst; do
        if [ -n "$src" ]; then
            install_file "$src" "$dst"
        fi
    done <<< "$1"
    while read -r dst; do
        check_includes "$dst"
    done < "$STAGE/installed"
}

# Replace the '# xen-mapcache.c' section of hw/xen/trace-events with ours.
install_trace_events() {
    local ours=$STAGE/trace-section
    awk '/^# xen-mapcache\.c$/ { p = 1 } p' "$PROJECT/hw/xen/trace-events" |
        awk 'NF { for (; blanks > 0; blanks--) print ""; print; next }
             { blanks++ }' > "$ours"
    [ -s "$ours" ] || die "no '# xen-mapcache.c' section in hw/xen/trace-events"
    grep -q '^# xen-mapcache\.c$' "$TREE/hw/xen/trace-events" ||
        die "no '# xen-mapcache.c' section in $TREE/hw/xen/trace-events"
    awk -v ours="$ours" '
        /^# xen-mapcache\.c$/ {
            while ((getline line < ours) > 0) print line
            skip = 1; next
        }
        skip && /^# / && lastblank { skip = 0; print "" }
        { lastblank = ($0 == "") }
        !skip { print }
    ' "$TREE/hw/xen/trace-events" > "$STAGE/trace-events"
    cp "$STAGE/trace-events" "$TREE/hw/xen/trace-events"
    tgit add hw/xen/trace-events
}

# The 'Xen mapcache' section of MAINTAINERS, with the F: lines whose
# files the tree has now, after the 'X86 Xen CPUs' section.
install_maintainers() {
    local section=$STAGE/maintainers line pat
    : > "$section"
    while IFS= read -r line; do
        case "$line" in
        "F: "*)
            pat=$(qemu_path "${line#F: }")
            if [ -n "$(tgit ls-files -- "$pat")" ]; then
                echo "F: $pat" >> "$section"
            fi
            ;;
        "") ;;
        *) echo "$line" >> "$section" ;;
        esac
    done < <(awk '/^Xen mapcache$/ { p = 1 } p && /^$/ { exit } p' \
                 "$PROJECT/MAINTAINERS")
    grep -q '^Xen mapcache$' "$section" ||
        die "no 'Xen mapcache' section in $PROJECT/MAINTAINERS"
    grep -q '^X86 Xen CPUs$' "$TREE/MAINTAINERS" ||
        die "no 'X86 Xen CPUs' section in $TREE/MAINTAINERS"
    awk -v section="$section" '
        /^Xen mapcache$/ { drop = 1 }
        drop { if (/^$/) drop = 0; next }
        { print }
        /^X86 Xen CPUs$/ { xen = 1 }
        xen && /^$/ {
            while ((getline line < section) > 0) print line
            print ""
            xen = 0
        }
    ' "$TREE/MAINTAINERS" > "$STAGE/MAINTAINERS"
    cp "$STAGE/MAINTAINERS" "$TREE/MAINTAINERS"
    tgit add MAINTAINERS
}

# Build the unit test like ptimer-test: the hw/ source plus a stubs file,
# and the fake hypervisor; only the Xen headers come from the xen
# dependency, so the fake, not the Xen libraries, is linked.
install_test_meson() {
    local f=$TREE/tests/unit/meson.build
    grep -q "'test-xen-mapcache'" "$f" && return 0
    grep -q '^test_env = environment()$' "$f" ||
        die "$f: cannot find where to add the test"
    awk '
        /^test_env = environment\(\)$/ {
            print "if have_system and xen.found() and host_os == '\''linux'\''"
            print "  tests += {"
            print "    '\''test-xen-mapcache'\'': ["
            print "      '\''test-xen-mapcache-stubs.c'\'',"
            print "      '\''test-xen-mapcache-fake-xen.c'\'',"
            print "      meson.project_source_root() / '\''hw/xen/xen-mapcache.c'\'',"
            print "      xen.partial_dependency(compile_args: true, includes: true),"
            print "    ],"
            print "  }"
            print "endif"
            print ""
        }
        { print }
    ' "$f" > "$STAGE/meson.build"
    cp "$STAGE/meson.build" "$f"
    tgit add tests/unit/meson.build
}

# List the document in the devel manual, after the RCU document.
install_docs_index() {
    local index
    index=$(grep -l '^   rcu$' "$TREE"/docs/devel/index-*.rst | head -n1) ||
        true
    [ -n "$index" ] || die "no devel docs index lists rcu in $TREE"
    index=${index#"$TREE"/}
    grep -q '^   xen-mapcache$' "$TREE/$index" && return 0
    awk '
        /^\.\. toctree::/ { toc = 1 }
        toc && /^   [^ :]/ { last = NR }
        { line[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                print line[i]
                if (i == last) print "   xen-mapcache"
            }
        }
    ' "$TREE/$index" > "$STAGE/index"
    cp "$STAGE/index" "$TREE/$index"
    tgit add "$index"
}

commit() {
    tgit commit -q -s -F - || die "git commit failed"
    note "committed: $(tgit log -1 --format=%s)"
}

# ---------------------------------------------------------------------------
# The series.

base=$(tgit rev-parse HEAD)
tgit checkout -q -B "$BRANCH" "$base"
note "branch $BRANCH from $(tgit log -1 --format='%h ("%s")' "$base")"

install_files "$PATCH1_FILES"
install_maintainers
commit <<'EOF'
xen: mapcache: document the API, add counters and an explicit limit

The mapcache's header declares six functions and documents none of
them, although their contracts are subtle: a pointer returned with
lock == 0 is only valid inside the caller's RCU read-side critical
section, one returned with lock != 0 is pinned until it is passed back
to xen_invalidate_map_cache_entry().  Nothing outside the file can tell
how the cache behaves either: how often a pinned entry is reused, how
many chain steps find nothing, how many remaps a workload costs.

Give every function a kernel-doc comment stating its contract, as the
next patch implements it, and add to the API:

- XenMapCacheStats and xen_map_cache_get_stats(): the counters of each
  cache (lookups, hits, reuses of pinned entries, new mappings, remaps,
  chain steps, evictions, deferred releases, NULL returns);
- xen_map_cache_init_limit(): set up the cache with an explicit size
  limit, leaving RLIMIT_AS alone, for small device-model domains, tests
  and benchmarks;
- xen_map_cache_fini(): release every mapping, wait for the deferred
  releases and free the cache, so that a test can start afresh.

Nothing calls them yet; the next patch implements them.

Add a MAINTAINERS section for the mapcache, so that changes to it, its
tests and its documentation reach xen-devel.
EOF

install_files "$PATCH2_FILES"
install_trace_events
commit <<'EOF'
xen: mapcache: rewrite with per-index chains, O(1) pins and RCU releases

When QEMU is the device model of a Xen HVM guest, every access to guest
memory goes through the mapcache.  The current implementation has six
problems:

1. A pointer returned with lock == 0 (qemu_map_ram_ptr(),
   address_space_rw()) is only protected by the caller's
   rcu_read_lock(), but the mapcache never waits for readers: a
   concurrent request may unmap the entry and map other frames, often
   at the same address, and the reader silently reads or writes the
   wrong guest memory.
2. The lookup reuses only an entry of exactly the requested size, so
   lock0 and lock1 requests of different sizes at one bucket remap the
   same entry back and forth.
3. xen_ram_addr_from_mapcache() and xen_invalidate_map_cache_entry()
   walk a list of every pinned mapping: O(pinned) per DMA completion.
4. Nothing tells how the cache behaves, and nothing tests it.
5. Every cache preallocates one chain head per possible bucket (2^23
   for each grant cache, even when no grant is ever used), and the
   flush drops only chain heads: unpinned entries further down a chain
   stay mapped, stale, and without ram_block_notify_remove().
6. Nothing is ever evicted: what stays mapped grows until the address
   space runs out, which crashes 32-bit device-model stubdomains under
   heavy disk I/O.

Rewrite the file:

- Buckets live in a hash table keyed by bucket index and exist while
  they hold entries.  A bucket's chain holds the entries that start at
  that index; one chain walk finds an entry that serves a request
  (large enough, every page it touches valid), pinned or not, wherever
  it stands in the chain.
- A lock1 request pins (counts) its entry and records the returned
  pointer in a hash table: reverse lookups and unpins are O(1).  The
  same pointer pinned twice needs two invalidations.
- A range that was ever handed out is never unmapped, mapped over or
  reused while a reader may still point into it.  Entries leave the
  cache (recycled for a larger mapping, evicted, flushed, a grant at
  its last unpin) by being detached under the lock and released with
  call_rcu().  The one in-place change is xen_replace_cache_entry() on
  a dummy entry made during incoming migration: that is its contract.
- Unpinned entries stay cached within the cache limit, the least
  recently used evicted first; releases still pending count against
  the limit.  A request larger than the limit gets NULL.  A mapping
  that fails with ENOMEM drops every unpinned entry and is retried
  once before the mapcache gives up.
- Grant caches are created at the first grant request.  The flush
  costs O(entries), drops every unpinned guest RAM entry and leaves
  pinned entries and the grant caches alone.
- Fatal errors name the address, the size and errno.

What the mapcache did stays: the bucket sizing, the RLIMIT_AS rules,
NULL for invalid pages (a dummy mapping during incoming migration),
separate read-only and read-write grant caches, ram_block_notify_add()
and ram_block_notify_remove() around guest RAM mappings, the abort on a
lock0 grant request, the drain before a flush and the bottom half that
xen_invalidate_map_cache_entry() uses in a coroutine.

The trace events follow the new functions.
EOF

if $with_test; then
    install_files "$PATCH3_FILES"
    install_test_meson
    install_maintainers
    areas=$(grep -o '"/xen-mapcache/[a-z0-9_-]*/' \
                "$PROJECT/tests/unit/test-xen-mapcache.c" |
            sed -e 's|"/xen-mapcache/||; s|/$||' | sort -u |
            paste -sd, - | sed -e 's/,/, /g')
    areas=$(echo "The test paths are /xen-mapcache/<area>/<case>, with these" \
                 "areas: ${areas:-(none)}." | fmt -w 72)
    commit <<EOF
xen: mapcache: add a unit test against a fake hypervisor

The mapcache has no tests.  Add test-xen-mapcache, built like
ptimer-test from the hw/ source plus a stubs file, and linked with a
fake hypervisor instead of the Xen libraries, so that it runs anywhere
QEMU is built with Xen support.  Only the Xen headers come from the xen
dependency.

The fake implements the libxenforeignmemory and libxengnttab calls the
mapcache makes over sparse memfds whose pages hold a pattern derived
from their address, so a pointer to the wrong frame is caught by value.
It can make frames holes, fail calls on demand, and record the unmap of
a range that a reader has declared in use.

$areas
EOF
fi

install_files "$PATCH4_FILES"
install_docs_index
install_maintainers
commit <<'EOF'
xen: mapcache: document the design, the rules and the API

Add docs/devel/xen-mapcache.rst: what the mapcache is for, its buckets,
entries, chains and pin counts, the rules that keep every pointer a
caller holds mapped (each naming the function that enforces it), the
caching and eviction policy, the counters, what each bad input gets,
the API from the header's kernel-doc, and how the rewrite differs from
the previous implementation and why.
EOF

# ---------------------------------------------------------------------------
# The patches and the cover letter.

tgit format-patch -q --cover-letter -o "$OUTDIR" "$base..$BRANCH"
cover=$(ls "$OUTDIR"/0000-cover-letter.patch)

# The benchmark's table: from a file, or from the project's build,
# brought up to date first so that it measures the exported source.
bench_output() {
    local bench=$PROJECT/build/bench/xen-mapcache-bench
    if [ -n "${XEN_MAPCACHE_BENCH_OUTPUT:-}" ]; then
        cat "$XEN_MAPCACHE_BENCH_OUTPUT"
    elif [ -x "$bench" ]; then
        note "running $bench (about 10 s)" >&2
        ninja -C "$PROJECT/build" bench/xen-mapcache-bench >/dev/null || {
            echo "export-series: warning: cannot rebuild $bench" >&2
            return 1
        }
        "$bench"
    else
        return 1
    fi
}

{
    cat <<EOF
When QEMU is the device model of a Xen HVM guest, every access to guest
memory goes through the mapcache.  Today a pointer handed out without a
pin can be unmapped and replaced by other guest frames under a reader
that holds it; entries of different sizes at one bucket remap each
other; every DMA completion walks the list of all pinned mappings; the
caches preallocate a head per possible bucket; the flush leaves chained
entries stale; and nothing is ever evicted.

This series rewrites the mapcache so that no pointer a caller holds is
ever unmapped under it (ranges are released after an RCU grace
period), any entry that serves a request is found wherever it is in its
chain, pins and reverse lookups are O(1), memory and flush costs follow
the entries in use, and unpinned entries are evicted, least recently
used first, within a limit.  The public API is unchanged; counters, an
explicit-limit initialisation and a teardown are added.

1. the API: kernel-doc, counters, an explicit limit, MAINTAINERS
2. the rewrite
EOF
    if $with_test; then
        echo "3. a unit test against a fake hypervisor (make check-unit)"
        echo "4. the design document, docs/devel/xen-mapcache.rst"
    else
        echo "3. the design document, docs/devel/xen-mapcache.rst"
    fi
    cat <<EOF

Every patch builds qemu-system-i386 with --enable-xen; the unit test
runs with 'make check-unit' (meson test --suite unit test-xen-mapcache)
and needs no Xen host.

Benchmark: named DMA workloads, recorded from fixed seeds, replayed
through the public API against the fake hypervisor of the unit test
(QEMU 9.2's call patterns: lock0 reads in their own read sections, lock1
maps, address_space_unmap() completions).  maps counts the mapping calls
the hypervisor received; bound is the number of mappings the trace makes
necessary, computed from the trace alone (cmp: the compulsory mappings,
when the working set fits the limit; lru: otherwise, the misses of an
LRU cache of the same limit simulated on the trace); ratio = maps /
bound.  Grant mappings go back to the granting domain at their last
unpin, by design, so the grants ratio has no target.

EOF
    if out=$(bench_output); then
        echo "$out" | sed -e 's/^./  &/; s/[ \t]*$//'
    else
        cat <<EOF
  (The benchmark has not been run here.  In the xen-mapcache project,
  'make bench' builds and runs it; pass its output to this script with
  XEN_MAPCACHE_BENCH_OUTPUT=FILE to have it here.)
EOF
    fi
    echo
    echo "Based on $(tgit log -1 --format='%h ("%s")' "$base")."
} > "$STAGE/blurb"

awk -v blurb="$STAGE/blurb" '
    /\*\*\* SUBJECT HERE \*\*\*/ {
        sub(/\*\*\* SUBJECT HERE \*\*\*/,
            "xen: mapcache: rewrite with RCU-deferred releases, O(1) pins and an LRU limit")
    }
    /^\*\*\* BLURB HERE \*\*\*$/ {
        while ((getline line < blurb) > 0) print line
        next
    }
    { print }
' "$cover" > "$STAGE/cover"
cp "$STAGE/cover" "$cover"

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
# --check: every patch builds; the unit test passes in make check-unit.

if $check; then
    for c in $(tgit rev-list --reverse "$base..$BRANCH"); do
        tgit checkout -q "$c"
        note "build: $(tgit log -1 --format='%h %s')"
        ninja -C "$TREE/build" qemu-system-i386 > "$STAGE/build.log" 2>&1 || {
            tail -n 40 "$STAGE/build.log"
            tgit checkout -q "$BRANCH"
            die "qemu-system-i386 does not build at $(tgit log -1 --format=%h "$c")"
        }
        tail -n 1 "$STAGE/build.log"
    done
    tgit checkout -q "$BRANCH"
    note "make check-unit MTESTARGS=test-xen-mapcache"
    make -C "$TREE/build" check-unit MTESTARGS=test-xen-mapcache 2>&1 |
        tee "$STAGE/check.log" || die "make check-unit failed"
    grep -q 'test-xen-mapcache  *OK' "$STAGE/check.log" ||
        die "make check-unit did not pass test-xen-mapcache"
    note "check: done"
fi

note "$TREE is on branch $BRANCH ('git checkout -' goes back)"
[ $failed = 0 ] || die "checkpatch found problems (see above)"
note "done"
