#!/usr/bin/env bash
# {{TARGET}}: {{MODE}}. Made by rules_pyimage from its
# py/private/run_pyimage.sh.tpl (run_script.bzl). Each value below is one
# shell-quoted word; file paths are relative to the runfiles tree.
set -euo pipefail
r="${RUNFILES_DIR:-$0.runfiles}"
export RUNFILES_DIR="$r"

mode={{MODE}}
tool={{TOOL}}
plan={{PLAN}}
lock={{LOCK}}
lock_path={{LOCK_PATH}}
update_target={{UPDATE_TARGET}}
report={{REPORT}}
report_json={{REPORT_JSON}}
shared_layers={{SHARED_LAYERS}}
shared_layers_path={{SHARED_LAYERS_PATH}}
shared_layers_given={{SHARED_LAYERS_GIVEN}}
fleet_label={{FLEET_LABEL}}

case "$mode" in
  show-plan)
    # The layer plan report of a py_image_layers target, as a table.
    exec "$r/$tool" show-plan "$r/$plan"
    ;;
  fleet-check)
    # Fails when the fleet's lock is stale or missing, or the BUILD file does
    # not pass the lock's shared layers.
    lock_arg=()
    if [ -n "$lock" ]; then lock_arg=(--lock "$r/$lock"); fi
    # (bash before 4.4 calls an empty "${lock_arg[@]}" unbound under set -u.)
    exec "$r/$tool" fleet-check ${lock_arg[@]+"${lock_arg[@]}"} --plan "$r/$plan" \
      --lock-path "$lock_path" --update-target "$update_target" \
      --shared-layers-given "$r/$shared_layers_given" --shared-layers-path "$shared_layers_path" \
      --fleet-label "$fleet_label"
    ;;
  fleet-update)
    # Writes the fleet's plan into its lock file in the source tree, and the
    # lock's shared layers into its .bzl form beside it.
    ws="${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}"
    put() {
      cp "$r/$1" "$ws/$2.tmp.$$"
      chmod 644 "$ws/$2.tmp.$$"
      mv "$ws/$2.tmp.$$" "$ws/$2"
      echo "wrote $ws/$2"
    }
    put "$plan" "$lock_path"
    put "$shared_layers" "$shared_layers_path"
    ;;
  fleet-report)
    # What the fleet's plan shares and the bytes it stores.
    cat "$r/$report"
    echo "(JSON: bazel-bin/$report_json)"
    ;;
  *)
    echo "$0: unknown mode $mode" >&2
    exit 2
    ;;
esac
