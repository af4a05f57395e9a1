#!/bin/bash
# usage: logger.sh <client> [label]   (hook payload on stdin; Codex notify passes it as last argv)
# env LOGGER_IGNORE_TERM=1: log SIGTERM but keep running (to see if SIGKILL follows)
C="${1:-unknown}"; L="${2:-}"
LOG="${E2E_LOG_DIR:-/tmp/e2e-probe}/hooks-$C.log"
t0=$(date +%s.%N)
onsig() { echo "{\"client\":\"$C\",\"label\":\"$L\",\"pid\":$$,\"signal\":\"$1\",\"t\":$(date +%s.%N)}" >> "$LOG"; [ -n "${LOGGER_IGNORE_TERM:-}" ] || exit $2; }
trap 'onsig TERM 143' TERM; trap 'onsig INT 130' INT; trap 'onsig HUP 129' HUP
if [ -t 0 ]; then payload=""; else payload=$(cat); fi
# raw line first (cheap), so even a quickly-killed hook leaves its payload
printf '{"client":"%s","label":"%s","pid":%s,"t_start":%s,"raw":%s}\n' "$C" "$L" $$ "$t0" "$(printf '%s' "$payload" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" >> "$LOG.raw" &
shift; [ -n "$L" ] && shift
python3 - "$LOG" "$C" "$L" "$t0" "$$" "$payload" "$@" <<'PY'
import json, sys, os
log, c, label, t0, pid, payload, *argv = sys.argv[1:]
try: p = json.loads(payload) if payload.strip() else None
except Exception: p = payload
env = {k: v for k, v in os.environ.items() if k.startswith(("CLAUDE", "GEMINI", "CODEX", "SAVEPOINT")) and "KEY" not in k}
rec = {"client": c, "label": label, "pid": int(pid), "t_start": float(t0), "cwd": os.getcwd(), "argv": argv, "stdin": p, "env": env}
open(log, "a").write(json.dumps(rec) + "\n")
PY
sleep 0.3 & wait $!
echo "{\"client\":\"$C\",\"label\":\"$L\",\"pid\":$$,\"after_sleep\":$(date +%s.%N)}" >> "$LOG"
exit 0
