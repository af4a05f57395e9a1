#!/bin/bash
trap "" TERM   # Claude SIGTERMs the StopFailure hook ~20-30 ms after spawn; ignore it (SIGKILL follows ~1.5 s later)
F=/tmp/e2e-probe/hooks-$1.detach.log
printf '%s %s begin\n' "$EPOCHREALTIME" "$2" >> $F
payload=$(cat)
printf '%s %s read %s bytes\n' "$EPOCHREALTIME" "$2" "${#payload}" >> $F
setsid -f bash -c 'sleep 2; printf "%s %s detached-work-done\n" "$EPOCHREALTIME" "'"$2"'" >> '"$F" < /dev/null > /dev/null 2>&1
printf '%s %s hook-exit\n' "$EPOCHREALTIME" "$2" >> $F
