#!/bin/bash
# builtin-only timing probe: no subprocess before the payload is saved
F=/tmp/e2e-probe/hooks-$1.sigprobe.log; L=$2
t0=$EPOCHREALTIME
trap 'printf "%s %s SIGTERM pid=%s\n" "$EPOCHREALTIME" "$L" $$ >> $F' TERM
trap 'printf "%s %s SIGHUP\n" "$EPOCHREALTIME" "$L" >> $F' HUP
trap 'printf "%s %s SIGINT\n" "$EPOCHREALTIME" "$L" >> $F' INT
payload=""; while IFS= read -r line || [ -n "$line" ]; do payload+="$line"; done
printf "%s %s start(t0=%s) pgid=%s stdin=%s\n" "$EPOCHREALTIME" "$L" "$t0" "$(ps -o pgid= $$ 2>/dev/null)" "$payload" >> $F
for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.3 & wait $!; printf "%s %s alive %s\n" "$EPOCHREALTIME" "$L" $i >> $F; done
