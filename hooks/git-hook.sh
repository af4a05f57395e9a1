#!/bin/sh
# savepoint-hook: @HOOK@
# Installed by `savepoint hooks install`; removed by `savepoint hooks uninstall`.
# Records a snapshot of the work tree at this git event (trigger hook:@HOOK@).
# A hook that was here before runs first, from @HOOK@.savepoint-chained, with
# the same arguments and input; its exit status is this hook's exit status.
# Without savepoint on PATH this hook only runs that one.
status=0
chained="$(dirname "$0")/@HOOK@.savepoint-chained"
if [ -x "$chained" ]; then
  "$chained" "$@"
  status=$?
fi
if command -v savepoint >/dev/null 2>&1; then
  savepoint hook git @HOOK@ "$@" </dev/null >/dev/null 2>&1 || :
fi
exit $status
