#!/usr/bin/env bash
# The fuzz targets of runtime/fuzz: request parsing and validation, the upstream SSE stream (and
# the SSE reader against eventsource-stream), the markdown renderer. Each runs PROPTEST_CASES
# generated inputs (default here 2000) and prints how many it ran and how fast; a failure is shrunk
# to a minimal input.
#
#   scripts/rehearse/fuzz.sh                                    # 2000 inputs per target (CI: 500)
#   PROPTEST_CASES=200000 PROFILE=release scripts/rehearse/fuzz.sh   # a long run
#   scripts/rehearse/fuzz.sh markdown                           # one target file
#
# Why proptest (stable) and not cargo-fuzz (nightly): the harnesses run inside `cargo test` on the
# pinned toolchain, so CI needs no nightly, no `cargo install` and reuses the test build; the
# generators are structured (chats, SSE frames, markdown pieces), which reaches the validation
# rules and the stream reader much faster than byte mutation without a seed corpus; failures
# shrink. What it lacks is coverage guidance. (bolero would add that on nightly, but its derive
# crate pins indexmap to an older version for the whole workspace, the shipped binary included.)
# A crash found becomes a regression test in runtime/fuzz/tests/regressions.rs.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT" || exit
PROFILE=${PROFILE:-debug}
# --workspace: the features of the rust stage's test build, so CI reuses it (only these targets run).
flags=(--locked --workspace)
[ "$PROFILE" = debug ] || flags+=(--release)
targets=()
for t in "${@:-request upstream_sse sse_parser markdown regressions}"; do
  for one in $t; do targets+=(--test "$one"); done
done
export PROPTEST_CASES=${PROPTEST_CASES:-2000}
step "fuzz ($PROPTEST_CASES inputs per target, $PROFILE)"
cargo test "${flags[@]}" "${targets[@]}" -- --nocapture --test-threads 1
