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
state={{STATE}}
state_path={{STATE_PATH}}
undeclared={{UNDECLARED}}
fleet_label={{FLEET_LABEL}}

case "$mode" in
  show-plan)
    # The layer plan report of a py_image_layers target, as a table.
    exec "$r/$tool" show-plan "$r/$plan"
    ;;
  fleet-check)
    # Fails when the fleet's lock is stale, missing or unreadable, or
    # MODULE.bazel does not declare the fleet.
    args=()
    if [ -n "$lock" ]; then args+=(--lock "$r/$lock"); fi
    if [ -n "$undeclared" ]; then args+=(--undeclared "$undeclared"); fi
    # (bash before 4.4 calls an empty "${args[@]}" unbound under set -u.)
    exec "$r/$tool" fleet-check ${args[@]+"${args[@]}"} --plan "$r/$plan" \
      --lock-path "$lock_path" --update-target "$update_target" --fleet-label "$fleet_label"
    ;;
  fleet-update)
    # Writes the fleet's plan into its lock file in the source tree (one
    # file: Bazel reads it through rules_pyimage's module extension).
    ws="${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}"
    # What changes, said before it is written (nothing when the lock is current).
    args=()
    if [ -f "$ws/$lock_path" ]; then args+=(--lock "$ws/$lock_path"); fi
    "$r/$tool" fleet-check ${args[@]+"${args[@]}"} --plan "$r/$plan" --updating \
      --lock-path "$lock_path" --fleet-label "$fleet_label"
    tmp="$ws/$lock_path.tmp.$$"
    cp "$r/$plan" "$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$ws/$lock_path"
    echo "wrote $ws/$lock_path"
    if [ -n "$undeclared" ]; then
      echo "no image follows it until MODULE.bazel declares the fleet: $undeclared"
    fi
    ;;
  fleet-report)
    # What the fleet's plan shares and the bytes it stores; with arguments
    # (`-- --since OLD.json ...`), what rolling out this state costs.
    if [ $# -eq 0 ]; then
      cat "$r/$report"
      echo "(JSON: bazel-bin/$report_json; the fleet's state: bazel-bin/$state_path)"
      exit 0
    fi
    # Paths the user gives are relative to where `bazel run` was started.
    case "$r" in /*) ;; *) r="$PWD/$r" ;; esac
    export RUNFILES_DIR="$r"
    cd "${BUILD_WORKING_DIRECTORY:-.}"
    exec "$r/$tool" fleet-rollout --state "$r/$state" "$@"
    ;;
  *)
    echo "$0: unknown mode $mode" >&2
    exit 2
    ;;
esac
