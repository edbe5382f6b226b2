#!/bin/sh
# Measures butter's Python front side by side with its peers, in one run per table, with
# the shared scripts in ../shared/bench (each cell a fresh process, cells interleaved,
# medians and paired ratios):
#
#   eventfd write+read round trips    ours vs os.eventfd_write/read, linuxfd, butter 0.13.1
#   inotify events drained per second ours vs linuxfd, inotify_simple, butter 0.13.1,
#                                     asyncinotify, and the C floor (ceilings.py inotify)
#   sendfile over loopback TCP        ours vs os.sendfile and pysendfile 2.0.1
#
# Usage (from the repository root, as root: the inotify runs raise
# fs.inotify.max_queued_events for their duration):
#   sh crates/butter-py/bench.sh [OUTDIR]        default OUTDIR: target/py-bench
# Peers are installed from the package index into target/py-peers (needs gcc and Python
# headers: butter, linuxfd and pysendfile build C extensions). BENCH=DIR points at the
# shared scripts (default ../shared/bench next to the repository).
set -eu
cd "$(dirname "$0")/../.."
out=${1:-target/py-bench}
bench=${BENCH:-$(cd .. && pwd)/shared/bench}
mkdir -p "$out"
ours=$(PY_FRONT_RELEASE=1 ./scripts/py-front target/py-front-bench)
peers=target/py-peers
if [ ! -x "$peers/bin/python" ] || ! "$peers/bin/python" -c "import butter, sendfile, linuxfd, inotify_simple, asyncinotify" 2>/dev/null; then
    rm -rf "$peers"
    sh "$bench/setup_peers.sh" "$peers" >&2
fi
py=$peers/bin/python
run() { name=$1; shift; echo "== $name"; "$@" --json "$out/$name.jsonl" | tee "$out/$name.txt"; }
run eventfd "$py" "$bench/eventfd_rt.py" --reps "${REPS:-11}" \
    --impl os --impl os-rw --impl linuxfd \
    --impl orig=butter@"$py" --impl ours=butter@"$ours"
run inotify_drain "$py" "$bench/inotify_drain.py" --reps "${REPS:-5}" \
    --impl linuxfd --impl inotify_simple --impl asyncinotify --impl py-struct \
    --impl orig=butter@"$py" --impl ours=butter@"$ours" --impl ours-event=butter-event@"$ours"
run inotify_c python3 "$bench/ceilings.py" inotify --reps "${REPS:-5}"
run sendfile "$py" "$bench/sendfile_tcp.py" --reps "${REPS:-7}" \
    --impl os --impl orig=pysendfile@"$py" --impl ours=pysendfile@"$ours"
